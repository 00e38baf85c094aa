//! The model or dataset card: YAML front matter at the top of README.md, exposed as `cardData` and
//! checked by `/api/validate-yaml`.

use serde_json::Value;

/// Splits README.md into its front matter — the YAML between a leading `---` line and the next `---`
/// line — and the body after it. Without a closed front matter the whole text is body. A BOM and blank
/// lines before the first `---` are tolerated, as on the Hub; the one reader of cards, for the metadata and
/// for the page that renders the body alike.
pub fn split(text: &str) -> (Option<&str>, &str) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let start = text.trim_start_matches(['\n', '\r', ' ', '\t']);
    let Some(rest) = start.strip_prefix("---\n").or_else(|| start.strip_prefix("---\r\n")) else { return (None, text) };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return (Some(&rest[..offset]), &rest[offset + line.len()..]);
        }
        offset += line.len();
    }
    (None, text)
}

/// The front matter alone (see [`split`]).
pub fn front_matter(text: &str) -> Option<&str> {
    split(text).0
}

/// The front matter as JSON: `Ok(None)` when there is none, an error message when it is not a YAML mapping.
pub fn card_data(text: &str) -> Result<Option<Value>, String> {
    let Some(yaml) = front_matter(text) else { return Ok(None) };
    if yaml.trim().is_empty() {
        return Ok(Some(Value::Object(Default::default())));
    }
    let value: Value = serde_yaml_ng::from_str(yaml).map_err(|e| format!("Invalid YAML in the card metadata: {e}"))?;
    match value {
        Value::Object(_) => Ok(Some(value)),
        Value::Null => Ok(Some(Value::Object(Default::default()))),
        _ => Err("The card metadata must be a YAML mapping".into()),
    }
}

/// What `/api/validate-yaml` reports: errors refuse the card, warnings are shown to the user.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Validation {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn validate(text: &str) -> Validation {
    let data = match card_data(text) {
        Ok(Some(Value::Object(map))) if !map.is_empty() => map,
        Ok(_) => {
            return Validation {
                warnings: vec!["Empty or missing yaml metadata in repo card".into()],
                ..Default::default()
            }
        }
        Err(e) => return Validation { errors: vec![e], ..Default::default() },
    };
    let mut errors = Vec::new();
    let is_str_list = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    for key in ["tags", "datasets", "metrics", "base_model", "language", "license"] {
        if let Some(v) = data.get(key) {
            if !(v.is_string() || is_str_list(v)) {
                errors.push(format!("\"{key}\" must be a string or a list of strings"));
            }
        }
    }
    for key in ["library_name", "pipeline_tag", "license_name", "license_link"] {
        if let Some(v) = data.get(key) {
            if !v.is_string() {
                errors.push(format!("\"{key}\" must be a string"));
            }
        }
    }
    if let Some(mi) = data.get("model-index") {
        let ok = mi.as_array().is_some_and(|items| {
            items
                .iter()
                .all(|m| m.get("name").is_some_and(Value::is_string) && m.get("results").is_some_and(Value::is_array))
        });
        if !ok {
            errors.push("\"model-index\" must be a list of {name, results} entries".into());
        }
    }
    Validation { errors, warnings: Vec::new() }
}

/// Tags the Hub derives from the card (`tags`, `license:…`, library, datasets, languages).
pub fn tags(card: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push_all = |v: Option<&Value>, prefix: &str| match v {
        Some(Value::String(s)) => out.push(format!("{prefix}{s}")),
        Some(Value::Array(a)) => out.extend(a.iter().filter_map(Value::as_str).map(|s| format!("{prefix}{s}"))),
        _ => {}
    };
    push_all(card.get("library_name"), "");
    push_all(card.get("tags"), "");
    push_all(card.get("datasets"), "dataset:");
    push_all(card.get("language"), "");
    push_all(card.get("license"), "license:");
    out.dedup();
    out
}

/// README.md on `main`, when it is a git-stored text file of at most 1 MiB.
pub async fn readme_on_main(
    hub: &crate::Hub,
    repo: &gatehouse_store::RepoRecord,
) -> gatehouse_types::Result<Option<String>> {
    let git = hub.git.clone();
    let key = repo.storage_key.clone();
    crate::hub::blocking(move || {
        let r = git.open(&key)?;
        let Some(head) = r.ref_target("refs/heads/main")? else { return Ok(None) };
        match r.entry(head, "README.md")? {
            Some(e) if e.lfs.is_none() && e.size < 1 << 20 => {
                Ok(Some(String::from_utf8_lossy(&r.read_blob(e.oid)?).into_owned()))
            }
            _ => Ok(None),
        }
    })
    .await
}

/// The card's metadata on `main`: None when there is no card or its metadata does not parse.
pub async fn data_on_main(
    hub: &crate::Hub,
    repo: &gatehouse_store::RepoRecord,
) -> gatehouse_types::Result<Option<Value>> {
    Ok(readme_on_main(hub, repo).await?.as_deref().and_then(|t| card_data(t).ok().flatten()))
}

/// Stores the tags of the card on the default branch, so listings can filter by tag (`?tag=` in the web
/// UI, `filter=` in the API). Runs after every commit or push to `main`; a card that is missing, stored
/// in LFS, too large or unparseable has no tags.
pub async fn refresh_tags(hub: &crate::Hub, repo: &gatehouse_store::RepoRecord) -> gatehouse_types::Result<()> {
    let tags = data_on_main(hub, repo).await?.as_ref().map(tags).unwrap_or_default();
    gatehouse_store::RepoStore::set_repo_tags(&hub.store, repo.id, &tags).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_front_matter_from_the_body() {
        assert_eq!(split("---\na: 1\n---\n# T\n"), (Some("a: 1\n"), "# T\n"));
        assert_eq!(split("\u{feff}---\r\na: 1\r\n---\r\nbody"), (Some("a: 1\r\n"), "body"));
        assert_eq!(split("\n\n---\na: 1\n--- \n# T"), (Some("a: 1\n"), "# T"));
        assert_eq!(split("---\na: 1\n---"), (Some("a: 1\n"), ""));
        assert_eq!(split("---\n---\nbody"), (Some(""), "body"));
        assert_eq!(split("---\nunclosed\n"), (None, "---\nunclosed\n"));
        assert_eq!(split("\u{feff}# BOM only"), (None, "# BOM only"));
        assert_eq!(split(""), (None, ""));
        assert_eq!(split("----\na\n----\n"), (None, "----\na\n----\n"));
        assert_eq!(split("---\na\n---\nb\n---\n"), (Some("a\n"), "b\n---\n"));
    }

    #[test]
    fn reads_front_matter() {
        let card = "---\nlicense: mit\ntags:\n- a\n- b\n---\n# Title\n";
        let data = card_data(card).unwrap().unwrap();
        assert_eq!(data["license"], "mit");
        assert_eq!(tags(&data), ["a", "b", "license:mit"]);
        assert_eq!(card_data("# no metadata").unwrap(), None);
        assert_eq!(card_data("---\n---\ntext").unwrap(), Some(serde_json::json!({})));
        assert!(card_data("---\n- a list\n---\n").is_err());
        assert!(card_data("---\nkey: [unclosed\n---\n").is_err());
    }

    #[test]
    fn validation() {
        assert_eq!(validate("---\nlicense: mit\n---\n"), Validation::default());
        assert_eq!(validate("no front matter").warnings.len(), 1);
        assert_eq!(validate("---\ntags: {a: 1}\n---\n").errors.len(), 1);
        assert_eq!(validate("\n---\nmodel-index: foo\n---\n\ntext").errors.len(), 1);
        assert_eq!(validate("---\n: : bad\n---\n").errors.len(), 1);
    }
}
