//! Code highlighting for the file view: syntect's bundled grammars (pure-Rust regexes), emitted as spans
//! with `hl-` classes so a page carries no inline styles and one stylesheet colours every file.
//!
//! The text is untrusted and the grammars run backtracking regexes, so highlighting is best effort:
//! anything that fails, panics, or would take too long comes back as escaped plain text instead.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::LazyLock;
use std::time::{Duration, Instant};
use syntect::highlighting::{Color, ThemeSet};
use syntect::html::{css_for_theme_with_class_style, ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::{SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };
/// A light theme, to match the site.
const THEME: &str = "InspiredGitHub";
const PLAIN: &str = "Plain Text";

/// A line this long is minified data or generated code: no reader needs it coloured, and the grammars'
/// per-line regexes get slow on it.
const MAX_LINE_BYTES: usize = 16 * 1024;
/// A backstop against a grammar that crawls on some input: colours are not worth more CPU than this.
/// (In an optimised build a few hundred KB of source take well under a second; the very largest
/// previews, near 1 MiB, may run out and show as plain text.)
const TIME_BUDGET: Duration = Duration::from_secs(3);

/// Built once: the grammars' dump is decompressed and deserialized on first use.
static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

/// File types common in model repositories that the bundled grammars don't know by that name:
/// (lower-case extension or file name, grammar to use, name to show).
const ALIASES: &[(&str, &str, &str)] = &[
    ("dockerfile", "Bourne Again Shell (bash)", "Dockerfile"),
    ("containerfile", "Bourne Again Shell (bash)", "Dockerfile"),
    ("jsonl", "JSON", "JSON Lines"),
    ("ipynb", "JSON", "Jupyter Notebook"),
    ("ts", "JavaScript", "TypeScript"),
    ("tsx", "JavaScript", "TypeScript"),
    ("mjs", "JavaScript", "JavaScript"),
    ("cjs", "JavaScript", "JavaScript"),
    ("jsx", "JavaScript", "JavaScript"),
    ("toml", "Java Properties", "TOML"),
    ("ini", "Java Properties", "INI"),
    ("cfg", "Java Properties", "INI"),
    // In ML repositories a header is C or C++ far more often than Objective-C (the grammar `.h` maps to).
    ("h", "C++", "C++"),
    ("cu", "C++", "CUDA"),
    ("cuh", "C++", "CUDA"),
];

/// Highlighted code, ready to go inside a `<pre>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Highlighted {
    /// The language shown to the reader, e.g. `Python`, `JSON`, or `Plain Text`.
    pub language: String,
    /// The number of lines of the text.
    pub lines: usize,
    /// Every character of the text HTML-escaped, inside `<span class="hl-…">` elements.
    pub html: String,
}

/// The stylesheet for the classes [`highlight`] emits, with every text colour darkened as far as WCAG AA
/// needs (4.5:1) against the lightest background code is shown on.
pub fn highlight_css() -> String {
    // Called once by the web crate, so the theme set isn't worth keeping around.
    let themes = ThemeSet::load_defaults();
    let Some(mut theme) = themes.themes.get(THEME).cloned() else { return String::new() };
    for item in &mut theme.scopes {
        if let Some(fg) = item.style.foreground {
            let bg = item.style.background.unwrap_or(CODE_BACKGROUND);
            item.style.foreground = Some(with_contrast(fg, bg, MIN_CONTRAST));
        }
    }
    if let Some(fg) = theme.settings.foreground {
        theme.settings.foreground = Some(with_contrast(fg, CODE_BACKGROUND, MIN_CONTRAST));
    }
    css_for_theme_with_class_style(&theme, CLASS_STYLE).unwrap_or_default()
}

/// Code blocks in cards sit on the site's soft grey (`--soft`), file views on white; grey is the harder.
const CODE_BACKGROUND: Color = Color { r: 0xf5, g: 0xf7, b: 0xfa, a: 0xff };
/// A little above AA's 4.5:1, so rounding to whole colour steps never lands below it.
const MIN_CONTRAST: f64 = 4.6;

/// `fg` darkened in steps (keeping its hue) until it reaches `min` contrast against `bg`.
fn with_contrast(fg: Color, bg: Color, min: f64) -> Color {
    let mut c = fg;
    let mut k = 1.0;
    while contrast(c, bg) < min && k > 0.0 {
        k -= 0.02;
        let scale = |v: u8| (f64::from(v) * k).round().clamp(0.0, 255.0) as u8;
        c = Color { r: scale(fg.r), g: scale(fg.g), b: scale(fg.b), a: fg.a };
    }
    c
}

/// WCAG 2 contrast ratio of two colours (1 to 21).
fn contrast(a: Color, b: Color) -> f64 {
    let lum = |c: Color| {
        let ch = |v: u8| {
            let s = f64::from(v) / 255.0;
            if s <= 0.03928 {
                s / 12.92
            } else {
                ((s + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b)
    };
    let (la, lb) = (lum(a), lum(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The grammar for a file and the language name to show, or `None` for plain text.
fn detect(file_name: &str) -> Option<(&'static SyntaxReference, &'static str)> {
    let ss = &*SYNTAXES;
    let name = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e);
    let alias = |key: &str| {
        let (_, grammar, shown) = ALIASES.iter().find(|(k, _, _)| *k == key)?;
        Some((ss.find_syntax_by_name(grammar)?, *shown))
    };
    let by_grammar = |s: &'static SyntaxReference| (s, s.name.as_str());
    // Whole names first (`Dockerfile`, `Makefile`, `.bashrc`), then the extension.
    // The grammars also list plain extensions, so an extension-less lower-case name like `build` or
    // `t` is only a name match when spelled as a grammar spells a file name (capitalised or dotted).
    let looks_like_a_name = name.starts_with(|c: char| c.is_ascii_uppercase() || c == '.');
    let whole = alias(&lower)
        .or_else(|| lower.starts_with("dockerfile.").then(|| alias("dockerfile")).flatten())
        .or_else(|| looks_like_a_name.then(|| ss.find_syntax_by_extension(name).map(by_grammar)).flatten());
    let found = whole.or_else(|| {
        let ext = ext.filter(|e| !e.is_empty())?;
        alias(ext).or_else(|| ss.find_syntax_by_extension(ext).map(by_grammar))
    })?;
    (found.0.name != PLAIN).then_some(found)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
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

/// Runs the grammar over every line; `None` when it errs, meets a line too long, or runs out of time.
fn classed_html(syntax: &SyntaxReference, text: &str, budget: Duration) -> Option<String> {
    let started = Instant::now();
    let mut generator = ClassedHTMLGenerator::new_with_class_style(syntax, &SYNTAXES, CLASS_STYLE);
    for line in LinesWithEndings::from(text) {
        if line.len() > MAX_LINE_BYTES || started.elapsed() > budget {
            return None;
        }
        generator.parse_html_for_line_which_includes_newline(line).ok()?;
    }
    Some(generator.finalize())
}

/// Highlights `text` by its file name (extension, or the whole name such as `Dockerfile`).
/// Never fails: an unknown type, a grammar error or an input too big to colour comes back as escaped
/// plain text with the language `Plain Text`.
pub fn highlight(file_name: &str, text: &str) -> Highlighted {
    let lines = text.lines().count();
    let plain = || Highlighted { language: PLAIN.into(), lines, html: escape(text) };
    let Some((syntax, language)) = detect(file_name) else { return plain() };
    // syntect has known panics on some grammar/regex-engine combinations (a lazily compiled regex the
    // pure-Rust engine rejects): a file view must not take the request down with it.
    match catch_unwind(AssertUnwindSafe(|| classed_html(syntax, text, TIME_BUDGET))) {
        Ok(Some(html)) => Highlighted { language: language.into(), lines, html },
        _ => plain(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(name: &str) -> String {
        highlight(name, "x\n").language
    }

    #[test]
    fn languages_by_extension_and_name() {
        assert_eq!(lang("train.py"), "Python");
        assert_eq!(lang("src/model/train.PY"), "Python");
        assert_eq!(lang("config.json"), "JSON");
        assert_eq!(lang("data.jsonl"), "JSON Lines");
        assert_eq!(lang("README.md"), "Markdown");
        assert_eq!(lang("params.yaml"), "YAML");
        assert_eq!(lang("run.sh"), "Bourne Again Shell (bash)");
        assert_eq!(lang("kernel.cu"), "CUDA");
        assert_eq!(lang("ops.h"), "C++");
        assert_eq!(lang("pyproject.toml"), "TOML");
        assert_eq!(lang("Dockerfile"), "Dockerfile");
        assert_eq!(lang("Dockerfile.gpu"), "Dockerfile");
        assert_eq!(lang("Makefile"), "Makefile");
        assert_eq!(lang(".bashrc"), "Bourne Again Shell (bash)");
    }

    #[test]
    fn every_colour_of_the_stylesheet_meets_wcag_aa() {
        let css = highlight_css();
        assert!(css.contains(".hl-comment"), "{css}");
        let hex = |h: &str| {
            let v = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).unwrap();
            Color { r: v(0), g: v(2), b: v(4), a: 0xff }
        };
        let mut checked = 0;
        for rule in css.split('}') {
            let bg = rule.split("background-color: #").nth(1).map(|r| hex(&r[..6])).unwrap_or(CODE_BACKGROUND);
            for part in rule.split("\n color: #").skip(1) {
                let ratio = contrast(hex(&part[..6]), bg);
                assert!(ratio >= 4.5, "{ratio:.2} in {rule}");
                checked += 1;
            }
        }
        assert!(checked > 20, "{checked} colours checked");
        assert!(with_contrast(Color { r: 0x96, g: 0x98, b: 0x96, a: 0xff }, CODE_BACKGROUND, 4.6).r < 0x96);
        let black = Color { r: 0, g: 0, b: 0, a: 0xff };
        assert_eq!(with_contrast(black, CODE_BACKGROUND, 4.6), black, "a dark colour is kept");
    }

    #[test]
    fn unknown_types_are_plain_text() {
        for name in ["weights.unknownext", "LICENSE", "notes.txt", "build", "t", "", ".", "archive.", "a/b/"] {
            let h = highlight(name, "a < b\n");
            assert_eq!(h.language, "Plain Text", "{name}");
            assert_eq!(h.html, "a &lt; b\n", "{name}");
        }
    }

    #[test]
    fn everything_is_escaped_inside_spans() {
        let h = highlight("x.py", "s = \"<script>alert(1)</script>\" & 'x'\n");
        assert!(h.html.contains("<span class=\"hl-"), "{}", h.html);
        assert!(!h.html.contains("<script"), "{}", h.html);
        assert!(h.html.contains("&lt;script&gt;") && h.html.contains("&amp;"), "{}", h.html);
        assert!(!h.html.contains("style="), "classes only: {}", h.html);
        let plain = highlight("notes.unknownext", "<b>&</b>\"'");
        assert_eq!(plain.html, "&lt;b&gt;&amp;&lt;/b&gt;&quot;&#39;");
    }

    #[test]
    fn output_holds_exactly_the_text() {
        let text = "def f(x):\r\n    return {'a': [1, 2]}  # <c>\n\n\u{e9}t\u{e9} \u{1F600}";
        let h = highlight("f.py", text);
        // Strip the tags and undo the escaping: the text must come back byte for byte.
        let mut bare = String::new();
        let mut in_tag = false;
        for c in h.html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => bare.push(c),
                _ => {}
            }
        }
        let unescaped = bare
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
        assert_eq!(unescaped, text);
    }

    #[test]
    fn counts_lines() {
        assert_eq!(highlight("a.py", "").lines, 0);
        assert_eq!(highlight("a.py", "a").lines, 1);
        assert_eq!(highlight("a.py", "a\n").lines, 1);
        assert_eq!(highlight("a.py", "a\nb\nc").lines, 3);
        assert_eq!(highlight("a.py", "a\r\nb\r\n").lines, 2);
        assert_eq!(highlight("a.bin", "\n\n\n").lines, 3);
    }

    #[test]
    fn odd_input_does_not_panic() {
        let texts = [
            "\"unterminated",
            "'''never closed\n\n",
            "{\"a\": [1, 2",
            "\u{0}\u{1}\u{7f}binary-ish\u{feff}",
            "\r\r\r",
            "}}}]]])))",
            "/* open comment",
            "<![CDATA[ <!-- ",
        ];
        for name in ["f.json", "f.py", "f.js", "f.html", "f.rs", "f.md", "f.yaml", "f.sh", "f.xml", "f.c"] {
            for text in texts {
                let h = highlight(name, text);
                assert_eq!(h.lines, text.lines().count(), "{name}");
                assert!(!h.html.contains("<script"), "{name}");
            }
        }
    }

    #[test]
    fn very_long_lines_fall_back_to_plain_text() {
        let minified = format!("[{}1]", "1,".repeat(MAX_LINE_BYTES));
        let h = highlight("data.json", &minified);
        assert_eq!(h.language, "Plain Text");
        assert_eq!(h.lines, 1);
        assert_eq!(h.html, minified);
    }

    #[test]
    fn large_files_still_highlight() {
        let text = "def f(a, b):\n    return a + b  # add\n".repeat(2_000);
        let h = highlight("big.py", &text);
        assert_eq!(h.language, "Python");
        assert_eq!(h.lines, 4_000);
        assert_eq!(h.html.matches("hl-comment").count(), 4_000);
    }

    #[test]
    fn running_out_of_time_gives_up() {
        let (python, _) = detect("a.py").unwrap();
        assert!(classed_html(python, "a = 1\n", Duration::ZERO).is_none());
        assert!(classed_html(python, "a = 1\n", TIME_BUDGET).is_some());
    }

    #[test]
    fn stylesheet_uses_the_same_classes() {
        let css = highlight_css();
        assert!(css.contains(".hl-code"), "{css}");
        assert!(css.contains(".hl-comment"), "{css}");
    }
}
