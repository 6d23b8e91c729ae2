//! Text helpers shared by the sign-in, Graph and iCalendar code: error
//! chains and excerpts for messages, and the visible text of an HTML body.

/// "outer: inner: innermost", for a one-paragraph message.
pub fn error_chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// `text` cut to at most `max` characters, an ellipsis marking the cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

/// The visible text of an HTML body, for the DESCRIPTION that goes with an
/// `X-ALT-DESC` HTML body: tags, comments, `head`, `style` and `script`
/// dropped, block ends as line breaks, the common entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        if let Some(comment) = after.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |i| &comment[i + 3..]);
            continue;
        }
        let Some(close) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = after[1..close].trim().to_ascii_lowercase();
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("")
            .to_string();
        rest = &after[close + 1..];
        if !tag.starts_with('/') && matches!(name.as_str(), "head" | "style" | "script") {
            let end = format!("</{name}");
            let lower = rest.to_ascii_lowercase();
            rest = lower
                .find(&end)
                .and_then(|i| rest[i..].find('>').map(|j| &rest[i + j + 1..]))
                .unwrap_or("");
            continue;
        }
        if matches!(
            name.as_str(),
            "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
        ) && (tag.starts_with('/') || name == "br")
        {
            out.push('\n');
        }
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&#160;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let lines: Vec<&str> = decoded.lines().map(str::trim_end).collect();
    let mut text = String::new();
    let mut blank = true;
    for l in lines {
        if l.trim().is_empty() {
            if !blank {
                text.push('\n');
            }
            blank = true;
            continue;
        }
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(l.trim_start());
        blank = false;
    }
    text.trim_end().to_string()
}

/// Whether an HTML body shows any text: tags, `head`, `style` and `script`
/// blocks, comments and whitespace (including `&nbsp;`) do not count.
pub fn html_has_text(html: &str) -> bool {
    !html_to_text(html).trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_text_ignores_markup_styles_and_comments() {
        assert!(!html_has_text(""));
        assert!(!html_has_text("<p>&nbsp;</p><!-- note --><br/>"));
        assert!(!html_has_text(
            "<style>p { color: red }</style><script>x()</script>"
        ));
        assert!(!html_has_text("<HEAD><TITLE>t</TITLE></HEAD>&#160;"));
        assert!(html_has_text("<div>Hi</div>"));
        assert!(html_has_text("plain words"));
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("äöü", 3), "äöü");
        assert_eq!(truncate_chars("äöüß", 3), "äöü…");
    }
}
