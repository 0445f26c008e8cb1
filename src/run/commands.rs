//! `@updatebot …` commands in merge request comments.

use super::meta::Ignore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Rebase,
    Recreate,
    Ignore(Ignore),
    /// On a merge request closed without merging: propose its update again.
    Unignore,
}

/// The first command addressed to `@bot` in a comment, if any.
pub fn parse(body: &str, bot: &str) -> Option<Command> {
    let mention = format!("@{}", bot.to_ascii_lowercase());
    for line in body.lines() {
        let lower = line.trim().to_ascii_lowercase();
        let Some(rest) = lower.strip_prefix(&mention) else {
            continue;
        };
        // `@updatebotx` is someone else.
        if rest.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-') {
            continue;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        let command = match words.as_slice() {
            ["rebase", ..] => Command::Rebase,
            ["recreate", ..] => Command::Recreate,
            ["ignore", "this", "major", "version", ..] => Command::Ignore(Ignore::Major),
            ["ignore", "this", "version", ..] => Command::Ignore(Ignore::Version),
            ["ignore", "this", "dependency", ..] => Command::Ignore(Ignore::Dependency),
            ["unignore", ..] => Command::Unignore,
            _ => continue,
        };
        return Some(command);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_found_on_their_own_line() {
        assert_eq!(
            parse("@updatebot rebase", "updatebot"),
            Some(Command::Rebase)
        );
        assert_eq!(
            parse("thanks!\n  @UpdateBot recreate please", "updatebot"),
            Some(Command::Recreate)
        );
        assert_eq!(
            parse("@updatebot ignore this major version", "updatebot"),
            Some(Command::Ignore(Ignore::Major))
        );
        assert_eq!(
            parse("@updatebot ignore this dependency", "updatebot"),
            Some(Command::Ignore(Ignore::Dependency))
        );
        assert_eq!(
            parse("@updatebot ignore this version", "updatebot"),
            Some(Command::Ignore(Ignore::Version))
        );
        assert_eq!(
            parse("@updatebot unignore", "updatebot"),
            Some(Command::Unignore)
        );
        assert_eq!(parse("@updatebotx rebase", "updatebot"), None);
        assert_eq!(parse("please @updatebot rebase", "updatebot"), None);
        assert_eq!(parse("@updatebot dance", "updatebot"), None);
        assert_eq!(parse("@deps-bot rebase", "deps-bot"), Some(Command::Rebase));
    }
}
