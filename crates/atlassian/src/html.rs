//! HTML to Markdown: Jira Data Center's rendered wiki markup (and, later, Confluence pages),
//! through `htmd` with the same list and code conventions as the ADF converter.

use htmd::HtmlToMarkdown;
use htmd::options::{BulletListMarker, CodeBlockStyle, HeadingStyle, Options};

/// Converts an HTML fragment to Markdown; what cannot be parsed is kept as text.
pub fn to_markdown(html: &str) -> String {
    let converter = HtmlToMarkdown::builder()
        .options(Options {
            heading_style: HeadingStyle::Atx,
            bullet_list_marker: BulletListMarker::Dash,
            code_block_style: CodeBlockStyle::Fenced,
            ..Options::default()
        })
        .skip_tags(vec!["script", "style"])
        .build();
    converter.convert(html).map(|md| md.trim().to_string()).unwrap_or_else(|_| html.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rendered_wiki_markup_reads_as_markdown() {
        let html = "<h2><a name=\"Steps\"></a>Steps</h2>\n<ol>\n\t<li>Rotate the <b>key</b></li>\n\t<li>Pay</li>\n</ol>\n<div class=\"code panel\"><div class=\"codeContent panelContent\"><pre class=\"code-java\">int x = 1;</pre></div></div><ul><li>a</li></ul><script>alert(1)</script>";
        let md = super::to_markdown(html);
        assert!(md.starts_with("## Steps"), "{md}");
        assert!(
            md.contains("1.  Rotate the **key**") || md.contains("1. Rotate the **key**"),
            "{md}"
        );
        assert!(md.contains("int x = 1;"), "{md}");
        assert!(md.contains("-   a") || md.contains("- a"), "{md}");
        assert!(!md.contains("alert"), "{md}");
    }
}
