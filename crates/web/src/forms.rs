//! What a form shows back after a refused submission: the values the user typed and an error per field.

use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct FormState {
    values: HashMap<&'static str, String>,
    errors: HashMap<&'static str, String>,
    /// An error about the whole form (shown above it).
    pub error: Option<String>,
}

impl FormState {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with_value(mut self, field: &'static str, value: &str) -> Self {
        self.values.insert(field, value.to_string());
        self
    }
    pub fn set_error(&mut self, field: &'static str, message: impl Into<String>) {
        self.errors.entry(field).or_insert_with(|| message.into());
    }
    pub fn fail(mut self, message: impl Into<String>) -> Self {
        self.error = Some(message.into());
        self
    }
    pub fn has_errors(&self) -> bool {
        self.error.is_some() || !self.errors.is_empty()
    }
    /// For templates: the value typed into `field`.
    pub fn value(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }
    /// For templates: the error for `field`, or "".
    pub fn error_for(&self, field: &str) -> &str {
        self.errors.get(field).map_or("", String::as_str)
    }
    pub fn invalid(&self, field: &str) -> bool {
        self.errors.contains_key(field)
    }
}
