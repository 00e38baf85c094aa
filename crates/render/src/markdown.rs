//! Model cards: CommonMark with the GitHub extensions the Hub renders, then sanitized with ammonia.
//!
//! pulldown-cmark passes raw HTML through untouched, so its output is as untrusted as the card. The
//! sanitizer is the single gate: it decides what survives, and it also rewrites URLs, so links written
//! in Markdown and in raw HTML (`<img src="plot.png">` is common in cards) are treated the same way.

use ammonia::Builder;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};
use html5ever::LocalName;
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// Where relative links in a card point: files open in the file view, images load from `resolve`.
pub struct CardLinks<'a> {
    /// e.g. `/alice/model/blob/main/`
    pub blob_base: &'a str,
    /// e.g. `/alice/model/resolve/main/`
    pub raw_base: &'a str,
}

/// Every `id` from a card gets this prefix (and every `#fragment` link with it), so a card can't
/// shadow the page's own ids or clobber `window` globals by naming an element.
const ID_PREFIX: &str = "card-";

/// Whether a URL is relative to the repository: not `scheme:…`, `/absolute`, `//host`, `#anchor` or
/// `?query`.
fn is_relative(url: &str) -> bool {
    let has_scheme = url.split_once(':').is_some_and(|(s, _)| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    !(url.is_empty() || has_scheme || url.starts_with(['/', '#', '?']))
}

/// `{base}{path}`, for a relative path written as `x`, `./x` or `././x`.
fn rebase<'v>(base: &str, url: &'v str) -> Cow<'v, str> {
    let mut path = url;
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    Cow::Owned(format!("{base}{path}"))
}

fn sanitizer(links: &CardLinks<'_>) -> Builder<'static> {
    let mut b = Builder::default();
    // ammonia's default tag list is already conservative: no script, style, iframe, object, form, svg or
    // math, no event handlers, no style or class attributes. Cards also use these:
    b.add_tags(["details", "summary", "input"])
        // Task lists: an input is only ever a checkbox, whatever raw HTML asks for (no form can send it).
        .add_tag_attributes("input", ["type", "checked", "disabled"])
        .set_tag_attribute_value("input", "type", "checkbox")
        // Table column alignment comes as `style="text-align: …"`; no other property survives.
        .add_tag_attributes("th", ["style"])
        .add_tag_attributes("td", ["style"])
        .filter_style_properties(HashSet::from(["text-align"]))
        .set_tag_attribute_value("img", "loading", "lazy")
        // `<p align="center">` around a logo or badges is in half the cards on the Hub.
        .add_tag_attributes("p", ["align"])
        .add_tag_attributes("div", ["align"])
        .add_tag_attributes("h1", ["align"])
        .add_tag_attributes("h2", ["align"])
        .add_tag_attributes("h3", ["align"])
        .add_generic_attributes(["id"])
        .id_prefix(Some(ID_PREFIX))
        // Not `data:` (HTML or SVG documents) and not the long tail of schemes ammonia allows by default.
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("nofollow noopener noreferrer"));
    let (blob, raw) = (links.blob_base.to_owned(), links.raw_base.to_owned());
    // Runs after ammonia has dropped disallowed schemes, so only relative URLs are rewritten here.
    b.attribute_filter(move |element, attribute, value| match (element, attribute) {
        ("a" | "area", "href") if value.len() > 1 && value.starts_with('#') && !value[1..].starts_with(ID_PREFIX) => {
            Some(Cow::Owned(format!("#{ID_PREFIX}{}", &value[1..])))
        }
        ("a" | "area", "href") if is_relative(value) => Some(rebase(&blob, value)),
        ("img", "src") if is_relative(value) => Some(rebase(&raw, value)),
        _ => Some(Cow::Borrowed(value)),
    });
    b
}

/// Deeper than any real card (nested lists in a table in `<details>` are about 15 levels).
const MAX_DEPTH: usize = 48;

/// Elements that never have content (the parser never keeps them open).
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img", "input", "keygen",
    "link", "meta", "param", "source", "track", "wbr",
];

/// Names worth passing on; anything else (`<a"b>`, `<x=y>`) is dropped rather than re-serialized.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
}

fn push_escaped(out: &mut String, text: &str, quotes: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quotes => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

#[derive(Default)]
struct Tamer {
    out: String,
    /// The elements this pass has opened and not yet closed.
    open: Vec<LocalName>,
    /// Inside a raw-text element (`<textarea>`, `<script>`…): its end tag, and whether its text is kept.
    raw: Option<(LocalName, bool)>,
}

impl Tamer {
    fn close_to(&mut self, depth: usize) {
        while self.open.len() > depth {
            let name = self.open.pop().unwrap_or_default();
            self.out.push_str("</");
            self.out.push_str(&name);
            self.out.push('>');
        }
    }

    fn token(&mut self, token: Token) -> TokenSinkResult<()> {
        match token {
            Token::CharacterTokens(text) if self.raw.as_ref().is_none_or(|(_, keep)| *keep) => {
                push_escaped(&mut self.out, &text, false);
            }
            Token::TagToken(tag) if tag.kind == TagKind::EndTag => {
                // In raw text the tokenizer only ever ends the element on its own end tag.
                if self.raw.take().is_some() {
                    return TokenSinkResult::Continue;
                }
                if let Some(at) = self.open.iter().rposition(|n| *n == tag.name) {
                    self.close_to(at);
                }
            }
            Token::TagToken(tag) => {
                let name = &*tag.name;
                // Raw-text elements: their content is text to the tokenizer, as to the real parser. The
                // element itself never survives ammonia, so only its text (if harmless) is passed on.
                let raw = match name {
                    "script" => Some((RawKind::ScriptData, false)),
                    "style" => Some((RawKind::Rawtext, false)),
                    "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => Some((RawKind::Rawtext, true)),
                    "textarea" | "title" => Some((RawKind::Rcdata, true)),
                    "plaintext" => return TokenSinkResult::Plaintext,
                    _ => None,
                };
                if let Some((kind, keep)) = raw {
                    self.raw = Some((tag.name.clone(), keep));
                    return TokenSinkResult::RawData(kind);
                }
                let void = VOID.contains(&name);
                if !is_plain_name(name) || (!void && self.open.len() >= MAX_DEPTH) {
                    return TokenSinkResult::Continue;
                }
                self.out.push('<');
                self.out.push_str(name);
                for attr in &tag.attrs {
                    if is_plain_name(&attr.name.local) {
                        self.out.push(' ');
                        self.out.push_str(&attr.name.local);
                        self.out.push_str("=\"");
                        push_escaped(&mut self.out, &attr.value, true);
                        self.out.push('"');
                    }
                }
                self.out.push('>');
                if !void {
                    self.open.push(tag.name.clone());
                }
            }
            // Comments, doctypes, NULs and parse errors: nothing a card needs.
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

struct Sink(RefCell<Tamer>);

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        self.0.borrow_mut().token(token)
    }
}

/// Re-serializes HTML well nested and at most [`MAX_DEPTH`] elements deep (deeper tags are dropped,
/// their text kept; stray end tags are dropped; whatever is open at the end is closed).
///
/// Why: html5ever's tree builder walks the stack of open elements for many tags, so its time grows
/// with depth × tags. A 20 KB card of `- - - - …` (a list 10,000 deep) costs seconds, a 1 MiB one
/// hours. The tokenizer is linear, and after this pass the tree builder only ever sees shallow HTML.
/// This pass is not what makes the HTML safe: ammonia still parses and filters its output.
fn tame(html: &str) -> String {
    let sink = Sink(RefCell::new(Tamer { out: String::with_capacity(html.len()), ..Tamer::default() }));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let mut tamer = tokenizer.sink.0.take();
    tamer.close_to(0);
    tamer.out
}

/// A GitHub-style anchor: lower case, spaces to `-`, punctuation dropped.
fn slug(text: &str) -> String {
    text.trim()
        .chars()
        .filter_map(|c| match c {
            ' ' | '-' => Some('-'),
            '_' => Some('_'),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Gives each heading without an explicit `{#id}` an id from its text, so a card's table of contents
/// (`[Usage](#usage)`) works; repeats get `-1`, `-2`… Footnote labels move to their own `fn-` namespace
/// so `[^1]` can't collide with a heading called "1".
fn anchor(events: Vec<Event<'_>>) -> Vec<Event<'_>> {
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut unique = |base: String| {
        let n = taken.entry(base.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            base
        } else {
            format!("{base}-{}", *n - 1)
        }
    };
    let mut out = Vec::with_capacity(events.len());
    let mut iter = events.into_iter();
    while let Some(event) = iter.next() {
        match event {
            Event::Start(Tag::Heading { level, id, classes, attrs }) => {
                let mut inner = Vec::new();
                let mut text = String::new();
                for e in iter.by_ref() {
                    let end = matches!(e, Event::End(TagEnd::Heading(_)));
                    if let Event::Text(t) | Event::Code(t) = &e {
                        text.push_str(t);
                    }
                    inner.push(e);
                    if end {
                        break;
                    }
                }
                let id = match id {
                    Some(id) => Some(CowStr::from(unique(id.into_string()))),
                    None => Some(slug(&text)).filter(|s| !s.is_empty()).map(|s| CowStr::from(unique(s))),
                };
                out.push(Event::Start(Tag::Heading { level, id, classes, attrs }));
                out.extend(inner);
            }
            Event::FootnoteReference(label) => out.push(Event::FootnoteReference(format!("fn-{label}").into())),
            Event::Start(Tag::FootnoteDefinition(label)) => {
                out.push(Event::Start(Tag::FootnoteDefinition(format!("fn-{label}").into())))
            }
            other => out.push(other),
        }
    }
    out
}

/// Markdown (CommonMark, tables, strikethrough, task lists, footnotes) to HTML safe to embed in a page.
/// Relative links go to the file view (`blob_base`), relative images to the file's bytes (`raw_base`).
pub fn markdown(text: &str, links: &CardLinks<'_>) -> String {
    let opts = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_HEADING_ATTRIBUTES;
    let events = anchor(Parser::new_ext(text, opts).collect());
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, events.into_iter());
    sanitizer(links).clean(&tame(&out)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINKS: CardLinks<'static> = CardLinks { blob_base: "/a/m/blob/main/", raw_base: "/a/m/resolve/main/" };

    fn md(text: &str) -> String {
        markdown(text, &LINKS)
    }

    #[test]
    fn renders_markdown_with_extensions() {
        let html = md("# Title\n\n| a | b |\n|:---|--:|\n| 1 | 2 |\n\n~~old~~\n\n- [x] done\n- [ ] todo\n\nA[^n].\n\n[^n]: Note.\n");
        assert!(html.contains("<h1 id=\"card-title\">Title</h1>"), "{html}");
        assert!(html.contains("<table>") && html.contains("<td style=\"text-align:left\">1</td>"), "{html}");
        assert!(html.contains("<del>old</del>"), "{html}");
        assert!(html.contains("<input disabled=\"\" type=\"checkbox\" checked=\"\">"), "{html}");
        assert!(html.contains("<input disabled=\"\" type=\"checkbox\">"), "{html}");
        assert!(html.contains("href=\"#card-fn-n\"") && html.contains("id=\"card-fn-n\""), "{html}");
    }

    #[test]
    fn code_is_escaped() {
        let html = md("`<b>x</b>`\n\n```html\n<script>alert(1)</script>\n```\n");
        assert!(html.contains("<code>&lt;b&gt;x&lt;/b&gt;</code>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(!html.contains("<script"), "{html}");
    }

    #[test]
    fn scripts_handlers_and_frames_never_survive() {
        let evil = [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(2)>",
            "<img src=\"x\" onerror=\"alert(2)\"/>",
            "[x](javascript:alert(3))",
            "[x](JaVaScRiPt:alert(3))",
            "[x](java\tscript:alert(3))",
            "[x](<javascript&#58;alert(3)>)",
            "[x]: javascript:alert(3)\n\n[x]",
            "![i](javascript:alert(3))",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<a href=\"JaVaScRiPt:alert(4)\">y</a>",
            "<a href=\"&#106;avascript:alert(4)\">y</a>",
            "<a href=\" javascript:alert(4)\">y</a>",
            "<style>body{display:none}</style>",
            "<div style=\"position:fixed\" onclick=\"x()\">z</div>",
            "<table><tr><td style=\"background:url(javascript:x)\">x</td></tr></table>",
            "![i](data:text/html;base64,PHNjcmlwdD4=)",
            "<a href=\"data:text/html,<script>alert(5)</script>\">d</a>",
            "<svg><script>alert(6)</script></svg>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(7)>",
            "<object data=\"x.swf\"></object><embed src=\"x.swf\"><form action=\"/logout\"><button>b</button></form>",
            "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\"><base href=\"https://evil.example/\">",
            "<link rel=stylesheet href=\"https://evil.example/x.css\">",
            "<details open ontoggle=alert(8)><summary>s</summary></details>",
            "<input type=\"text\" autofocus onfocus=\"alert(9)\"> <input name=password>",
            "<noscript><p title=\"</noscript><img src=x onerror=alert(10)>\"></noscript>",
            "<!--><img src=x onerror=alert(11)>-->",
            "<a href=\"vbscript:msgbox(1)\">v</a>",
        ];
        for input in evil {
            let html = md(input).to_lowercase();
            for bad in [
                "<script",
                "onerror",
                "onclick",
                "ontoggle",
                "onfocus",
                "javascript:",
                "vbscript:",
                "data:",
                "<iframe",
                "<style",
                "<svg",
                "<math",
                "<object",
                "<embed",
                "<form",
                "<meta",
                "<base",
                "<link",
                "<noscript",
                "position:",
                "background",
                "type=\"text\"",
                "name=",
            ] {
                assert!(!html.contains(bad), "{bad} survived {input:?}: {html}");
            }
        }
    }

    #[test]
    fn links_get_rel_and_keep_safe_schemes() {
        let html = md("[w](https://example.com/x) [m](mailto:a@example.com) <https://example.org>");
        assert!(html.contains("href=\"https://example.com/x\""), "{html}");
        assert!(html.contains("href=\"mailto:a@example.com\""), "{html}");
        assert!(html.contains("href=\"https://example.org\""), "{html}");
        assert_eq!(html.matches("rel=\"nofollow noopener noreferrer\"").count(), 3, "{html}");
    }

    #[test]
    fn relative_links_point_into_the_repository() {
        let html = md("[cfg](config.json) [sub](./docs/a.md) [abs](https://example.com/x) [top](/other/repo) \
                       [host](//cdn.example/x) [q](?x=1)\n\n![p](./img/plot.png) ![e](https://example.com/e.png)");
        assert!(html.contains("href=\"/a/m/blob/main/config.json\""), "{html}");
        assert!(html.contains("href=\"/a/m/blob/main/docs/a.md\""), "{html}");
        assert!(html.contains("href=\"https://example.com/x\""), "{html}");
        assert!(html.contains("href=\"/other/repo\""), "{html}");
        assert!(html.contains("href=\"//cdn.example/x\""), "{html}");
        assert!(html.contains("href=\"?x=1\""), "{html}");
        assert!(html.contains("src=\"/a/m/resolve/main/img/plot.png\""), "{html}");
        assert!(html.contains("src=\"https://example.com/e.png\""), "{html}");
    }

    #[test]
    fn relative_urls_in_raw_html_are_rewritten_too() {
        let html = md("<p align=\"center\"><img src=\"assets/logo.png\" width=\"200\"><a href=\"LICENSE\">L</a></p>");
        assert!(html.contains("<p align=\"center\">"), "{html}");
        assert!(html.contains("src=\"/a/m/resolve/main/assets/logo.png\""), "{html}");
        assert!(html.contains("width=\"200\""), "{html}");
        assert!(html.contains("href=\"/a/m/blob/main/LICENSE\""), "{html}");
    }

    #[test]
    fn anchors_and_ids_are_namespaced_consistently() {
        let html = md("[Go](#usage) [top](#)\n\n## Usage\n\n## Usage\n\n## Custom {#mine}\n\n<a href=\"#mine\">m</a><div id=\"x\"></div>");
        assert!(html.contains("href=\"#card-usage\"") && html.contains("<h2 id=\"card-usage\">"), "{html}");
        assert!(html.contains("<h2 id=\"card-usage-1\">"), "{html}");
        assert!(html.contains("<h2 id=\"card-mine\">") && html.contains("href=\"#card-mine\""), "{html}");
        assert!(html.contains("href=\"#\""), "{html}");
        assert!(html.contains("id=\"card-x\""), "{html}");
        assert_eq!(slug(" Model `v2` Details: (Fine-tuned) "), "model-v2-details-fine-tuned");
    }

    #[test]
    fn html_in_cards_is_kept_when_harmless() {
        let html = md("<details><summary>More</summary>\n\nText\n</details>\n\n<sub>s</sub><kbd>k</kbd><br>");
        assert!(html.contains("<details>") && html.contains("<summary>More</summary>"), "{html}");
        assert!(html.contains("<sub>s</sub><kbd>k</kbd><br>"), "{html}");
    }

    #[test]
    fn tame_nests_bounds_and_drops_noise() {
        assert_eq!(tame("<p>a<b>b</p>c</i>"), "<p>a<b>b</b></p>c");
        assert_eq!(tame("<div><ul><li>x"), "<div><ul><li>x</li></ul></div>");
        assert_eq!(tame("a<!-- <div> -->b<!DOCTYPE html><?x?>"), "ab");
        assert_eq!(tame("<img src=\"a&amp;b\" alt='\"<x>'><br/>"), "<img src=\"a&amp;b\" alt=\"&quot;&lt;x&gt;\"><br>");
        assert_eq!(tame("1 &lt; 2 &amp;&amp; <a href=x\"y>t</a>"), "1 &lt; 2 &amp;&amp; <a href=\"x&quot;y\">t</a>");
        assert_eq!(tame("<a\"b>x</a\"b><x=y>z"), "xz");
        // Raw text stays text; scripts and styles lose their content too.
        assert_eq!(tame("<textarea><div></textarea><div>"), "&lt;div&gt;<div></div>");
        assert_eq!(tame("<script>if (a<b) x()</script>ok<style>p{}</style>"), "ok");
        assert_eq!(tame("<script><!--<script></script>still script</script>ok"), "ok");
        assert_eq!(tame("<plaintext><b>"), "&lt;b&gt;");
        // Too deep: extra tags go, their text stays.
        let deep = tame(&"<div>".repeat(MAX_DEPTH * 2).replace("<div><div>", "<div>x<div>"));
        assert_eq!(deep.matches("<div>").count(), MAX_DEPTH);
        assert_eq!(deep.matches("</div>").count(), MAX_DEPTH);
        assert_eq!(deep.matches('x').count(), MAX_DEPTH);
    }

    #[test]
    fn taming_leaves_ordinary_cards_alone() {
        let card = "# Model\n\n<p align=\"center\"><img src=\"logo.png\" width=\"120\"/></p>\n\n\
                    ## Usage\n\n```python\nprint(\"<hi>\")\n```\n\n| a | b |\n|:-:|---|\n| **1** | `2` |\n\n\
                    <details><summary>More</summary>\n\n- one\n  - two [x](y.md)\n\n> quote\n</details>\n\n\
                    Text with a note[^1] and <sub>sub</sub>.\n\n[^1]: The note.\n";
        let events = anchor(Parser::new_ext(card, Options::all()).collect());
        let mut html = String::new();
        html::push_html(&mut html, events.into_iter());
        assert_eq!(sanitizer(&LINKS).clean(&tame(&html)).to_string(), sanitizer(&LINKS).clean(&html).to_string());
    }

    #[test]
    fn deep_nesting_is_cheap_and_bounded() {
        // Without the taming pass each of these takes seconds in html5ever (its cost is depth × tags).
        let started = std::time::Instant::now();
        let list = md(&("- ".repeat(20_000) + "x"));
        assert!(list.matches("<ul>").count() <= MAX_DEPTH, "{}", list.len());
        let divs = md(&("<div>".repeat(20_000) + &"p\n\n".repeat(20_000)));
        assert!(divs.matches("<div").count() <= MAX_DEPTH);
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    }

    #[test]
    fn odd_input_does_not_panic() {
        let deep = [
            "> ".repeat(10_000) + "x",
            "<div>".repeat(10_000),
            "[".repeat(10_000),
            "*a ".repeat(10_000),
            "- ".repeat(10_000) + "x",
            "|a|\n|-|\n".to_string() + &"|x|\n".repeat(1_000),
            "\u{0}\u{feff}\r\r\n---\n".to_string(),
            "[^]: x\n[^".to_string(),
            "# {#}\n## {#}\n".to_string(),
        ];
        for text in &deep {
            let html = md(text);
            assert!(!html.contains("<script"));
        }
    }

    #[test]
    fn relative_url_detection() {
        for url in ["a.md", "./a", "../a", "dir/a b", ":x", "1x:y"] {
            assert!(is_relative(url), "{url}");
        }
        for url in ["", "/a", "//h/a", "#x", "?q", "http://h", "mailto:x", "weird+scheme.v1:x", "C:x"] {
            assert!(!is_relative(url), "{url}");
        }
    }
}
