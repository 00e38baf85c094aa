//! The access request form a gated repository shows, read from its card's metadata (`extra_gated_*`,
//! as the seeds describe), and the server-side check of a user's answers against it.

use serde_json::{Map, Value};

/// A form field's type: the seeds' `text`, `checkbox`, `date_picker`, `country` and `select`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Checkbox,
    DatePicker,
    /// An ISO 3166-1 alpha-2 code.
    Country,
    /// (label, value) pairs; an option given as a plain string is both.
    Select(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// The key in `extra_gated_fields`, shown as the label and used as the answer's key.
    pub name: String,
    pub kind: FieldKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateForm {
    pub heading: String,
    pub description: Option<String>,
    pub prompt: Option<String>,
    pub button: String,
    pub fields: Vec<FormField>,
}

/// Answers are free text bounded like the rest of the form.
const MAX_ANSWER_CHARS: usize = 1000;

fn text(card: &Value, key: &str) -> Option<String> {
    card.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

fn options(v: Option<&Value>) -> Vec<(String, String)> {
    let Some(Value::Array(items)) = v else { return Vec::new() };
    items
        .iter()
        .filter_map(|o| match o {
            Value::String(s) => Some((s.clone(), s.clone())),
            Value::Object(m) => {
                let value = m.get("value").map(scalar)?;
                let label = m.get("label").map(scalar).unwrap_or_else(|| value.clone());
                Some((label, value))
            }
            other => Some((scalar(other), scalar(other))),
        })
        .collect()
}

/// A YAML scalar as text (`options: [2024, yes]` are still options).
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn kind(spec: &Value) -> FieldKind {
    let (name, opts) = match spec {
        Value::String(s) => (s.as_str(), None),
        Value::Object(m) => (m.get("type").and_then(Value::as_str).unwrap_or("text"), m.get("options")),
        _ => ("text", None),
    };
    match name {
        "checkbox" => FieldKind::Checkbox,
        "date_picker" => FieldKind::DatePicker,
        "country" => FieldKind::Country,
        "select" => FieldKind::Select(options(opts)),
        // `text`, and types this hub does not know: a text answer still carries the information asked for.
        _ => FieldKind::Text,
    }
}

impl GateForm {
    /// The form for a repository of kind `what` ("model", "dataset") with card metadata `card` (the
    /// front matter as JSON, if any).
    pub fn from_card(card: Option<&Value>, what: &str) -> GateForm {
        let empty = Value::Null;
        let card = card.unwrap_or(&empty);
        let fields = match card.get("extra_gated_fields") {
            Some(Value::Object(m)) => {
                m.iter().map(|(name, spec)| FormField { name: name.clone(), kind: kind(spec) }).collect()
            }
            _ => Vec::new(),
        };
        GateForm {
            heading: text(card, "extra_gated_heading").unwrap_or_else(|| {
                format!("You need to agree to share your contact information to access this {what}")
            }),
            description: text(card, "extra_gated_description"),
            prompt: text(card, "extra_gated_prompt"),
            button: text(card, "extra_gated_button_content")
                .unwrap_or_else(|| "Agree and send request to access repo".to_string()),
            fields,
        }
    }

    /// Checks `answers` against the form: every field answered, checkboxes checked, dates real, countries
    /// and options from their lists. Returns the answers to keep (one per field, normalised: `true` for a
    /// checkbox, text otherwise), or every problem by field name.
    pub fn validate(&self, answers: &Map<String, Value>) -> Result<Map<String, Value>, Vec<(String, String)>> {
        let mut kept = Map::new();
        let mut problems = Vec::new();
        for f in &self.fields {
            let answer = answers.get(&f.name);
            match check(&f.kind, answer) {
                Ok(v) => {
                    kept.insert(f.name.clone(), v);
                }
                Err(why) => problems.push((f.name.clone(), why)),
            }
        }
        if problems.is_empty() {
            Ok(kept)
        } else {
            Err(problems)
        }
    }
}

fn answer_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

fn check(kind: &FieldKind, answer: Option<&Value>) -> Result<Value, String> {
    if *kind == FieldKind::Checkbox {
        let checked = match answer {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.trim().to_ascii_lowercase().as_str(), "on" | "true" | "yes" | "1"),
            _ => false,
        };
        return if checked { Ok(Value::Bool(true)) } else { Err("This box must be checked.".into()) };
    }
    let Some(text) = answer_text(answer) else { return Err("This field is required.".into()) };
    if text.chars().count() > MAX_ANSWER_CHARS {
        return Err(format!("At most {MAX_ANSWER_CHARS} characters."));
    }
    match kind {
        FieldKind::Text | FieldKind::Checkbox => {}
        FieldKind::DatePicker => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(&text, &format).map_err(|_| "Enter a real date as YYYY-MM-DD.".to_string())?;
        }
        FieldKind::Country => {
            let code = text.to_ascii_uppercase();
            if !is_country(&code) {
                return Err("Choose a country from the list.".into());
            }
            return Ok(Value::String(code));
        }
        FieldKind::Select(opts) => {
            if !opts.iter().any(|(_, value)| *value == text) {
                return Err("Choose one of the options.".into());
            }
        }
    }
    Ok(Value::String(text))
}

/// ISO 3166-1 alpha-2 codes with their names, for the country field.
pub fn countries() -> Vec<(&'static str, &'static str)> {
    let mut all: Vec<(&str, &str)> = celes::Country::get_countries().iter().map(|c| (c.alpha2, c.long_name)).collect();
    all.sort_by(|a, b| a.1.cmp(b.1));
    all
}

fn is_country(code: &str) -> bool {
    code.len() == 2 && celes::Country::from_alpha2(code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn card() -> Value {
        let yaml = "extra_gated_heading: Acknowledge license\nextra_gated_prompt: Do no harm.\nextra_gated_fields:\n  Company: text\n  Country: country\n  Specific date: date_picker\n  I want to use this dataset for:\n    type: select\n    options:\n      - Research\n      - Education\n      - label: Other\n        value: other\n  I agree: checkbox\n";
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn reads_the_seeds_example() {
        let form = GateForm::from_card(Some(&card()), "dataset");
        assert_eq!(form.heading, "Acknowledge license");
        assert_eq!(form.prompt.as_deref(), Some("Do no harm."));
        assert_eq!(form.button, "Agree and send request to access repo");
        let kinds: Vec<&FieldKind> = form.fields.iter().map(|f| &f.kind).collect();
        assert_eq!(kinds[0], &FieldKind::Text);
        assert_eq!(kinds[1], &FieldKind::Country);
        assert_eq!(kinds[2], &FieldKind::DatePicker);
        assert_eq!(
            kinds[3],
            &FieldKind::Select(vec![
                ("Research".into(), "Research".into()),
                ("Education".into(), "Education".into()),
                ("Other".into(), "other".into())
            ])
        );
        assert_eq!(kinds[4], &FieldKind::Checkbox);
        let plain = GateForm::from_card(None, "model");
        assert!(plain.heading.ends_with("access this model") && plain.fields.is_empty());
    }

    #[test]
    fn validates_every_field() {
        let form = GateForm::from_card(Some(&card()), "dataset");
        let good = json!({"Company": " Acme ", "Country": "de", "Specific date": "2024-02-29",
                          "I want to use this dataset for": "other", "I agree": "on", "Extra": "ignored"});
        let kept = form.validate(good.as_object().unwrap()).unwrap();
        assert_eq!(kept["Company"], "Acme");
        assert_eq!(kept["Country"], "DE");
        assert_eq!(kept["I agree"], true);
        assert!(!kept.contains_key("Extra"));

        let bad = json!({"Company": "", "Country": "XX", "Specific date": "2023-02-29",
                         "I want to use this dataset for": "Other", "I agree": false});
        let problems = form.validate(bad.as_object().unwrap()).unwrap_err();
        let names: Vec<&str> = problems.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Company", "Country", "Specific date", "I want to use this dataset for", "I agree"]);
        assert!(form.validate(&Map::new()).is_err());
        assert_eq!(countries().len(), 250);
    }
}
