//! mistral.rs in process: a GGUF model on CPU, or on CUDA with the `cuda` feature. Dropping
//! the stream cancels the sequence: the forwarding task stops reading and mistral.rs cancels
//! the sequence when it next fails to send a token.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use frontdesk_core::generate::{GenerationEvent, GenerationRequest, GenerationStream, Generator, PromptRole};
use mistralrs::{Model, RequestBuilder, Response, SamplingParams, TextMessageRole, TokenSource};
use tokio::sync::mpsc;

use crate::admission::Admission;
use crate::InferenceError;

/// A GGUF model running in process under mistral.rs.
pub struct MistralRsGenerator {
    model: Arc<Model>,
    name: String,
    /// Bounds the generations running or waiting in the engine.
    admission: Admission,
}

impl std::fmt::Debug for MistralRsGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MistralRsGenerator").field("name", &self.name).finish_non_exhaustive()
    }
}

impl MistralRsGenerator {
    /// Loads the GGUF file at `path` (tokenizer and chat template come from the file itself,
    /// nothing is fetched). `max_in_flight` bounds the generations admitted at once.
    pub async fn load(path: &Path, max_in_flight: usize) -> Result<Self, InferenceError> {
        if !path.is_file() {
            return Err(InferenceError::ModelMissing(path.display().to_string()));
        }
        let dir = path.parent().map_or_else(|| ".".into(), |d| d.to_string_lossy().into_owned());
        let dir = if dir.is_empty() { ".".to_owned() } else { dir };
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .ok_or_else(|| InferenceError::ModelMissing(path.display().to_string()))?;
        let model = build_model(dir, file.clone(), max_in_flight.max(1))
            .await
            .map_err(|e| InferenceError::Load(format!("{e:#}")))?;
        let name = file.trim_end_matches(".gguf").to_owned();
        Ok(Self { model: Arc::new(model), name, admission: Admission::new(max_in_flight) })
    }
}

/// Loads a GGUF model as `GgufModelBuilder` does, except for the activations' type: the builder
/// always picks f16 on a CPU, where candle converts f16 to f32 around every matmul, so f32 runs
/// faster there. On a GPU the type stays mistral.rs's choice.
async fn build_model(dir: String, file: String, max_num_seqs: usize) -> anyhow::Result<Model> {
    use mistralrs::core::{
        AddModelConfig, AutoDeviceMapParams, DefaultSchedulerMethod, DeviceMapSetting, EngineConfig,
        GGUFLoaderBuilder, GGUFSpecificConfig, ModelDType, SchedulerConfig,
    };
    let device = mistralrs::best_device(false)?;
    let dtype = if device.is_cpu() { ModelDType::F32 } else { ModelDType::Auto };
    let loader = GGUFLoaderBuilder::new(
        None,
        None,
        dir,
        vec![file],
        GGUFSpecificConfig { topology: None },
        false,
        None,
    )
    .build();
    let pipeline = loader.load_model_from_hf(
        None,
        TokenSource::None,
        &dtype,
        &device,
        true,
        DeviceMapSetting::Auto(AutoDeviceMapParams::default_text()),
        None,
        None,
    )?;
    let scheduler =
        SchedulerConfig::DefaultScheduler { method: DefaultSchedulerMethod::Fixed(max_num_seqs.try_into()?) };
    let engine = EngineConfig { throughput_logging_enabled: false, ..EngineConfig::default() };
    let config = AddModelConfig { engine_config: engine, mcp_client_config: None, loader_config: None };
    Ok(mistralrs::model_builder_trait::build_model_from_pipeline(pipeline, scheduler, config).await)
}

impl MistralRsGenerator {
    /// The token ids mistral.rs feeds the model for `text` (no special tokens added).
    pub async fn tokenize(&self, text: &str) -> frontdesk_core::Result<Vec<u32>> {
        self.model
            .tokenize(either::Either::Right(text.to_owned()), None, false, false, None)
            .await
            .map_err(|e| frontdesk_core::Error::Generation(format!("tokenize: {e}")))
    }
}

#[async_trait]
impl Generator for MistralRsGenerator {
    async fn generate(&self, request: GenerationRequest) -> frontdesk_core::Result<GenerationStream> {
        let permit = self.admission.admit()?;

        let mut builder = RequestBuilder::new();
        for message in &request.messages {
            let role = match message.role {
                PromptRole::System => TextMessageRole::System,
                PromptRole::User => TextMessageRole::User,
                PromptRole::Assistant => TextMessageRole::Assistant,
            };
            builder = builder.add_message(role, &message.content);
        }
        let mut sampling = SamplingParams::neutral();
        sampling.temperature = Some(request.sampling.temperature);
        sampling.top_p = Some(request.sampling.top_p);
        sampling.repetition_penalty = Some(request.sampling.repetition_penalty);
        sampling.max_len = Some(request.sampling.max_tokens);
        builder = builder.set_sampling(sampling);

        let (tx, rx) = mpsc::channel(32);
        let model = Arc::clone(&self.model);
        tokio::spawn(async move {
            let mut permit = Some(permit);
            let mut stream = match model.stream_chat_request(builder).await {
                Ok(stream) => stream,
                Err(error) => {
                    let _ = tx.send(Err(frontdesk_core::Error::Generation(error.to_string()))).await;
                    return;
                }
            };
            loop {
                let response = tokio::select! {
                    response = stream.next() => response,
                    // The caller dropped the stream: stop reading, which cancels the sequence.
                    () = tx.closed() => return,
                };
                let Some(response) = response else { return };
                let event = match response {
                    Response::Chunk(chunk) => {
                        let mut events = Vec::new();
                        if let Some(choice) = chunk.choices.first() {
                            if let Some(content) = &choice.delta.content {
                                events.push(Ok(GenerationEvent::Token(content.clone())));
                            }
                        }
                        if let Some(usage) = chunk.usage {
                            events.push(Ok(GenerationEvent::Finished {
                                prompt_tokens: u32::try_from(usage.prompt_tokens).unwrap_or(u32::MAX),
                                completion_tokens: u32::try_from(usage.completion_tokens).unwrap_or(u32::MAX),
                            }));
                        }
                        events
                    }
                    Response::Done(done) => vec![Ok(GenerationEvent::Finished {
                        prompt_tokens: u32::try_from(done.usage.prompt_tokens).unwrap_or(u32::MAX),
                        completion_tokens: u32::try_from(done.usage.completion_tokens).unwrap_or(u32::MAX),
                    })],
                    Response::ModelError(message, _) | Response::CompletionModelError(message, _) => {
                        vec![Err(frontdesk_core::Error::Generation(message))]
                    }
                    Response::InternalError(error) | Response::ValidationError(error) => {
                        vec![Err(frontdesk_core::Error::Generation(error.to_string()))]
                    }
                    _ => Vec::new(),
                };
                let finished = event.iter().any(|e| !matches!(e, Ok(GenerationEvent::Token(_))));
                if finished {
                    // Free the slot before the caller hears of the end, so it can go on at once.
                    drop(permit.take());
                }
                for item in event {
                    if tx.send(item).await.is_err() {
                        return;
                    }
                }
                if finished {
                    return;
                }
            }
        });
        Ok(rx)
    }

    fn model_name(&self) -> &str {
        &self.name
    }

    fn in_flight(&self) -> usize {
        self.admission.in_flight()
    }
}
