//! A signature used the way typed modules use it: the reserved-name check passes for
//! every module type that does not reserve one of its names, and the generated structs
//! and spec work from another module (the structs keep the signature's visibility).

mod signatures {
    use std::collections::HashMap;

    /// Summarize the text.
    #[derive(dspex::Signature)]
    pub struct Summarize {
        /// The text.
        #[input]
        pub text: String,
        #[output]
        pub summary: String,
        #[output]
        #[serde(rename = "keywords")]
        pub tags: Vec<String>,
        #[output]
        pub scores: HashMap<String, f64>,
    }

    /// `reasoning` is reserved by ChainOfThought, ReAct and ProgramOfThought, not by
    /// Predict.
    #[derive(dspex::Signature)]
    pub struct Explain {
        #[input]
        question: String,
        #[output]
        reasoning: String,
    }
}

use dspex::Signature;
use signatures::{Explain, Summarize, SummarizeInput, SummarizeOutput};

fn typed<S: Signature, K: dspex::ModuleKind>() -> &'static dspex::SignatureSpec {
    const { dspex::__private::assert_no_reserved::<S, K>() }
    S::spec()
}

fn main() {
    let spec = typed::<Summarize, dspex::ChainOfThought>();
    assert_eq!(spec.outputs()[1].name(), "keywords");
    typed::<Summarize, dspex::ReAct>();
    typed::<Summarize, dspex::ProgramOfThought>();
    let explain = typed::<Explain, dspex::Predict>();
    assert_eq!(explain.outputs()[0].name(), "reasoning");

    let input = SummarizeInput { text: "Long text.".into() };
    assert_eq!(input.clone(), input);
    let output: SummarizeOutput =
        serde_json::from_str(r#"{"summary": "Short.", "keywords": ["a"], "scores": {"a": 1.0}}"#)
            .expect("a valid output");
    assert_eq!(output.tags, ["a"]);
}
