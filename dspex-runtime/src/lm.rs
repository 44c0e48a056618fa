//! Which language model a Context's modules use.

use std::collections::BTreeMap;

use dspex_core::{Result, Value};

use crate::Context;
use crate::bridge::convert::value_to_pb;
use crate::worker::{pb, pool};

/// A language model for DSPy, configured per Context with [`Context::configure_lm`].
///
/// ```
/// use dspex::Lm;
/// let real = Lm::new("openai/gpt-4o-mini")
///     .api_key_env("OPENAI_API_KEY") // the key is read in the worker, never sent or logged
///     .setting("temperature", 0.2);
/// let offline = Lm::echo(); // the offline, deterministic test LM
/// let custom = Lm::custom("my_pkg.lms:make_lm");
/// # let _ = (real, offline, custom);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Lm {
    model: String,
    settings: BTreeMap<String, Value>,
    api_key_env: Option<String>,
    factory: Option<String>,
    echo: bool,
    adapter: Option<Adapter>,
}

/// How DSPy formats a prompt and parses the LM's answer (`dspy.ChatAdapter`,
/// `dspy.JSONAdapter`). Set it with [`Lm::adapter`]; without one, DSPy's default is used:
/// ChatAdapter, which retries an answer it cannot parse with JSONAdapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Adapter {
    /// `dspy.ChatAdapter`: one `[[ ## field ## ]]` section per output field.
    Chat,
    /// `dspy.JSONAdapter`: the answer is one JSON object (structured outputs where the LM
    /// supports them): the usual choice for struct and list outputs.
    Json,
}

impl Adapter {
    /// The name the worker knows the adapter by.
    fn name(self) -> &'static str {
        match self {
            Adapter::Chat => "chat",
            Adapter::Json => "json",
        }
    }
}

impl Lm {
    /// A LiteLLM model string, e.g. `"openai/gpt-4o-mini"`.
    pub fn new(model: &str) -> Lm {
        Lm {
            model: model.to_owned(),
            settings: BTreeMap::new(),
            api_key_env: None,
            factory: None,
            echo: false,
            adapter: None,
        }
    }

    /// The offline, deterministic **test LM** (`dspex_bridge.testing.EchoLM`): it answers
    /// every field with an echo of the input and the settings it received. For tests and
    /// demos only.
    pub fn echo() -> Lm {
        Lm {
            echo: true,
            ..Lm::new("")
        }
    }

    /// `"package.module:callable"` returning a DSPy LM, imported in each worker (local
    /// models, custom clients). Workers inherit this process's environment.
    pub fn custom(factory: &str) -> Lm {
        Lm {
            factory: Some(factory.to_owned()),
            ..Lm::new("")
        }
    }

    /// The name of the environment variable holding the API key.
    pub fn api_key_env(mut self, var: &str) -> Lm {
        self.api_key_env = Some(var.to_owned());
        self
    }

    /// The DSPy adapter every module of the Context uses with this LM.
    ///
    /// ```
    /// use dspex::{Adapter, Lm};
    /// let lm = Lm::echo().adapter(Adapter::Json); // modules answer as one JSON object
    /// # let _ = lm;
    /// ```
    pub fn adapter(mut self, adapter: Adapter) -> Lm {
        self.adapter = Some(adapter);
        self
    }

    /// A keyword argument for `dspy.LM` (temperature, max_tokens, ...).
    pub fn setting(mut self, key: &str, value: impl Into<Value>) -> Lm {
        self.settings.insert(key.to_owned(), value.into());
        self
    }

    pub(crate) fn to_pb(&self) -> pb::LmSpec {
        pb::LmSpec {
            model: self.model.clone(),
            settings: self
                .settings
                .iter()
                .map(|(k, v)| (k.clone(), value_to_pb(v)))
                .collect(),
            api_key_env: self.api_key_env.clone(),
            factory: self.factory.clone(),
            echo: self.echo,
            adapter: self
                .adapter
                .map(Adapter::name)
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

impl Context {
    /// Sets the LM this Context's modules use, on every worker — including workers started
    /// or restarted later. Bridges the Context and starts the pool if needed.
    pub async fn configure_lm(&self, lm: Lm) -> Result<()> {
        self.ensure_bridged().await?;
        let pool = pool().await?;
        pool.configure_lm(self.id(), lm.to_pb()).await
    }
}
