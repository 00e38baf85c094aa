//! Code highlighting for the file view: syntect's grammars (pure Rust regexes), emitted as spans with
//! `hl-` classes so the page carries no inline styles and one stylesheet colours every file.

use std::sync::LazyLock;
use syntect::highlighting::ThemeSet;
use syntect::html::{css_for_theme_with_class_style, ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::{SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };
const THEME: &str = "InspiredGitHub";

static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

pub struct Highlighted {
    /// The grammar's name, e.g. `Python`, `JSON`, or `Plain Text`.
    pub language: String,
    pub lines: usize,
    /// HTML: every character of the text escaped, inside classed spans.
    pub html: String,
}

/// The stylesheet for the classes [`highlight`] emits.
pub fn highlight_css() -> String {
    let themes = ThemeSet::load_defaults();
    themes.themes.get(THEME).and_then(|t| css_for_theme_with_class_style(t, CLASS_STYLE).ok()).unwrap_or_default()
}

fn syntax_for(file_name: &str) -> &'static SyntaxReference {
    let ss = &*SYNTAXES;
    let ext = file_name.rsplit_once('.').map(|(_, e)| e).unwrap_or(file_name);
    // Formats common in model repositories that the bundled grammars know under another name.
    let ext = match ext.to_ascii_lowercase().as_str() {
        "jsonl" | "ipynb" => "json".to_string(),
        "toml" | "cfg" | "gitattributes" | "gitignore" => "ini".to_string(),
        other => other.to_string(),
    };
    ss.find_syntax_by_extension(&ext)
        .or_else(|| ss.find_syntax_by_extension(file_name))
        .unwrap_or_else(|| ss.find_syntax_plain_text())
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Highlights `text` by its file name. Never fails: anything the grammar chokes on comes back as
/// escaped plain text.
pub fn highlight(file_name: &str, text: &str) -> Highlighted {
    let lines = text.lines().count();
    let syntax = syntax_for(file_name);
    let mut generator = ClassedHTMLGenerator::new_with_class_style(syntax, &SYNTAXES, CLASS_STYLE);
    let parsed =
        LinesWithEndings::from(text).try_for_each(|line| generator.parse_html_for_line_which_includes_newline(line));
    match parsed {
        Ok(()) => Highlighted { language: syntax.name.clone(), lines, html: generator.finalize() },
        Err(_) => Highlighted { language: "Plain Text".into(), lines, html: escape(text) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_by_extension() {
        assert_eq!(highlight("train.py", "x = 1\n").language, "Python");
        assert_eq!(highlight("config.json", "{}\n").language, "JSON");
        assert_eq!(highlight("data.jsonl", "{}\n").language, "JSON");
        assert_eq!(highlight("README.md", "# t\n").language, "Markdown");
        assert_eq!(highlight("weights.unknownext", "abc").language, "Plain Text");
        assert_eq!(highlight("Makefile", "all:\n\techo\n").language, "Makefile");
    }

    #[test]
    fn everything_is_escaped_inside_spans() {
        let h = highlight("x.py", "s = \"<script>alert(1)</script>\" & 'x'\n");
        assert!(h.html.contains("<span class=\"hl-"), "{}", h.html);
        assert!(!h.html.contains("<script"), "{}", h.html);
        assert!(h.html.contains("&lt;script&gt;"), "{}", h.html);
        let plain = highlight("notes.unknownext", "<b>&</b>");
        assert!(plain.html.contains("&lt;b&gt;&amp;&lt;/b&gt;") && !plain.html.contains("<b>"), "{}", plain.html);
    }

    #[test]
    fn odd_input_does_not_panic() {
        for text in ["\"unterminated", "", "\n\n\n", "\u{0}\u{1}binary-ish", "{\"a\": [1, 2"] {
            let h = highlight("f.json", text);
            assert_eq!(h.lines, text.lines().count());
        }
        assert_eq!(highlight("a.py", "a\nb\nc").lines, 3);
    }

    #[test]
    fn stylesheet_uses_the_same_classes() {
        let css = highlight_css();
        assert!(css.contains(".hl-"), "{css}");
    }
}
