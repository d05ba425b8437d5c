//! Token counting (cl100k, the tokenizer the savings figures are priced in) and cutting a long
//! text into pieces of a token budget, at line ends where it can.

/// The tokens of `text` in cl100k.
pub(crate) fn count_tokens(text: &str) -> usize {
    tiktoken_rs::cl100k_base_singleton().encode_ordinary(text).len()
}

/// Cuts `text` into pieces of about `budget` tokens, at line ends where it can.
pub(crate) fn split_by_tokens(text: &str, budget: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut tokens = 0;
    for line in text.split_inclusive('\n') {
        let line_tokens = count_tokens(line);
        if line_tokens > budget {
            // One line longer than a chunk (minified JSON, a long log line): it is cut on its
            // own, at spaces where it has them.
            if !current.is_empty() {
                pieces.push(std::mem::take(&mut current));
                tokens = 0;
            }
            pieces.extend(split_long_line(line, budget));
            continue;
        }
        if tokens + line_tokens > budget && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
            tokens = 0;
        }
        current.push_str(line);
        tokens += line_tokens;
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Cuts one over-long line into pieces of about `budget` tokens at spaces; a run without spaces
/// longer than that is cut every `budget / 4` characters (no character is less than a quarter
/// of a token).
fn split_long_line(line: &str, budget: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut tokens = 0;
    let mut push = |piece: &str, piece_tokens: usize, current: &mut String, tokens: &mut usize| {
        if *tokens + piece_tokens > budget && !current.is_empty() {
            pieces.push(std::mem::take(current));
            *tokens = 0;
        }
        current.push_str(piece);
        *tokens += piece_tokens;
    };
    for word in line.split_inclusive(' ') {
        let word_tokens = count_tokens(word);
        if word_tokens <= budget {
            push(word, word_tokens, &mut current, &mut tokens);
            continue;
        }
        let chars: Vec<char> = word.chars().collect();
        for run in chars.chunks((budget / 4).max(1)) {
            let run: String = run.iter().collect();
            let run_tokens = count_tokens(&run);
            push(&run, run_tokens, &mut current, &mut tokens);
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_splitting() {
        assert_eq!(count_tokens("hello world"), 2);
        let text: String = (0..300).map(|i| format!("line {i} with a few words\n")).collect();
        let pieces = split_by_tokens(&text, 500);
        assert!(pieces.len() > 1);
        assert_eq!(pieces.concat(), text, "nothing lost or reordered");
        assert!(pieces.iter().all(|p| count_tokens(p) <= 520));

        // One line with no newline (minified JSON), and a run with no space at all (base64).
        let line: String = (0..2000).map(|i| format!("\"key{i}\": {i}, ")).collect();
        let pieces = split_by_tokens(&line, 500);
        assert!(pieces.len() >= 10, "{}", pieces.len());
        assert_eq!(pieces.concat(), line, "nothing lost or reordered");
        assert!(pieces.iter().all(|p| count_tokens(p) <= 520));
        let run = "QUJDRA".repeat(5000);
        let pieces = split_by_tokens(&run, 500);
        assert!(pieces.len() > 1);
        assert_eq!(pieces.concat(), run);
        assert!(pieces.iter().all(|p| count_tokens(p) <= 520));
    }
}
