//! Model cards: CommonMark with the GitHub extensions the Hub renders, then sanitized with ammonia.

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};
use std::collections::HashSet;
use std::sync::LazyLock;

/// Where relative links in a card point: files open in the file view, images load from `resolve`.
pub struct CardLinks<'a> {
    /// e.g. `/alice/model/blob/main/`
    pub blob_base: &'a str,
    /// e.g. `/alice/model/resolve/main/`
    pub raw_base: &'a str,
}

/// Splits README.md into its YAML front matter (between a first `---` line and the next `---` line) and
/// the rest. A text without a closed front matter is all body.
pub fn split_front_matter(text: &str) -> (Option<&str>, &str) {
    let t = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = t.strip_prefix("---\n").or_else(|| t.strip_prefix("---\r\n")) else { return (None, t) };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return (Some(&rest[..offset]), &rest[offset + line.len()..]);
        }
        offset += line.len();
    }
    (None, t)
}

/// Whether a URL is relative to the repository (not `scheme:`, `/absolute`, `//host` or `#anchor`).
fn is_relative(url: &str) -> bool {
    let scheme = url.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    !(url.is_empty() || scheme || url.starts_with('/') || url.starts_with('#') || url.starts_with('?'))
}

fn rebase(url: CowStr<'_>, base: &str) -> CowStr<'static> {
    if is_relative(&url) {
        CowStr::from(format!("{base}{}", url.trim_start_matches("./")))
    } else {
        CowStr::from(url.into_string())
    }
}

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    // ammonia's defaults already drop scripts, styles, frames, forms and event handlers, and keep only
    // http(s)/mailto URLs. Cards also use these:
    b.add_tags(["details", "summary", "input"]);
    b.add_tag_attributes("input", ["type", "checked", "disabled"]);
    b.add_tag_attributes("img", ["width", "height"]);
    b.add_tag_attributes("td", ["align"]);
    b.add_tag_attributes("th", ["align"]);
    b.add_generic_attributes(["id"]);
    b.id_prefix(Some("card-"));
    b.url_schemes(HashSet::from(["http", "https", "mailto"]));
    b.link_rel(Some("nofollow noopener noreferrer"));
    b
});

/// Markdown (CommonMark, tables, strikethrough, task lists, footnotes) to HTML safe to embed in a page.
/// Relative links go to the file view, relative images to the file's bytes.
pub fn markdown(text: &str, links: &CardLinks<'_>) -> String {
    let opts = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_HEADING_ATTRIBUTES;
    let events = Parser::new_ext(text, opts).map(|e| match e {
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: rebase(dest_url, links.blob_base), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Image { link_type, dest_url: rebase(dest_url, links.raw_base), title, id })
        }
        other => other,
    });
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, events);
    // Raw HTML in the card (and any URL in it) is still untrusted: the sanitizer has the last word.
    SANITIZER.clean(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINKS: CardLinks<'static> = CardLinks { blob_base: "/a/m/blob/main/", raw_base: "/a/m/resolve/main/" };

    #[test]
    fn front_matter_variants() {
        assert_eq!(split_front_matter("---\na: 1\n---\n# T\n"), (Some("a: 1\n"), "# T\n"));
        assert_eq!(split_front_matter("\u{feff}---\r\na: 1\r\n---\r\nbody"), (Some("a: 1\r\n"), "body"));
        assert_eq!(split_front_matter("---\n---\nbody"), (Some(""), "body"));
        assert_eq!(split_front_matter("---\nunclosed\n"), (None, "---\nunclosed\n"));
        assert_eq!(split_front_matter("# no front matter"), (None, "# no front matter"));
        assert_eq!(split_front_matter(""), (None, ""));
    }

    #[test]
    fn renders_markdown_with_extensions() {
        let html = markdown("# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ - [x] done\n", &LINKS);
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<table>") && html.contains("<td>1</td>"), "{html}");
        assert!(html.contains("<del>old</del>"), "{html}");
    }

    #[test]
    fn scripts_handlers_and_frames_never_survive() {
        let evil = "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[x](javascript:alert(3))\n\n\
                    <iframe src=\"https://evil.example\"></iframe>\n\n<a href=\"JaVaScRiPt:alert(4)\">y</a>\n\n\
                    <style>body{display:none}</style><div style=\"position:fixed\" onclick=\"x()\">z</div>\n\n\
                    ![i](data:text/html;base64,PHNjcmlwdD4=)";
        let html = markdown(evil, &LINKS).to_lowercase();
        for bad in ["<script", "onerror", "javascript:", "<iframe", "<style", "onclick", "style=", "data:"] {
            assert!(!html.contains(bad), "{bad} survived in {html}");
        }
    }

    #[test]
    fn relative_links_point_into_the_repository() {
        let html = markdown(
            "[cfg](config.json) [abs](https://example.com/x) [top](/other/repo) [a](#usage)\n\n![p](./img/plot.png)",
            &LINKS,
        );
        assert!(html.contains("href=\"/a/m/blob/main/config.json\""), "{html}");
        assert!(html.contains("href=\"https://example.com/x\""), "{html}");
        assert!(html.contains("href=\"/other/repo\""), "{html}");
        assert!(html.contains("href=\"#usage\""), "{html}");
        assert!(html.contains("src=\"/a/m/resolve/main/img/plot.png\""), "{html}");
        assert!(html.contains("rel=\"nofollow noopener noreferrer\""), "{html}");
    }

    #[test]
    fn html_in_cards_is_kept_when_harmless() {
        let html = markdown("<details><summary>More</summary>\n\nText\n</details>", &LINKS);
        assert!(html.contains("<details>") && html.contains("<summary>More</summary>"), "{html}");
    }
}
