//! Command lines: splitting a command string and `{placeholder}` templates.

use modnas_core::param::{Assignment, ParamSpace};
use serde::{Deserialize, Deserializer, Serialize};

/// A command line: a list of arguments, or one string split at spaces (with `'…'` / `"…"`
/// quoting, but no shell).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Argv(pub Vec<String>);

impl<'de> Deserialize<'de> for Argv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Argv;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a command: a list of arguments or a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Argv, E> {
                split_command(v).map(Argv).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Argv, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<ArgItem>()? {
                    out.push(s.0);
                }
                Ok(Argv(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One argument: a string, or a number written without quotes.
struct ArgItem(String);

impl<'de> Deserialize<'de> for ArgItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ArgItem;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a command-line argument")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ArgItem, E> {
                Ok(ArgItem(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ArgItem, E> {
                Ok(ArgItem(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ArgItem, E> {
                Ok(ArgItem(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ArgItem, E> {
                Ok(ArgItem(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Splits a command string at unquoted whitespace; `'…'` and `"…"` group, `\` escapes in double
/// quotes and outside quotes.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated single quote in `{s}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x) => cur.push(x),
                            None => return Err(format!("trailing backslash in `{s}`")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated double quote in `{s}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(x) => cur.push(x),
                    None => return Err(format!("trailing backslash in `{s}`")),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Lit(String),
    Param(usize),
    Trial,
    Seed,
    TrialDir,
    RunDir,
}

#[derive(Clone, Debug)]
pub(super) struct Template(Vec<Piece>);

impl Template {
    pub(super) fn parse(s: &str, space: &ParamSpace) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(x) => name.push(x),
                            None => {
                                return Err(format!(
                                    "unclosed `{{` in `{s}` (write `{{{{` for a literal brace)"
                                ));
                            }
                        }
                    }
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    let name = name.trim();
                    pieces.push(match name {
                        "trial" => Piece::Trial,
                        "seed" => Piece::Seed,
                        "trial_dir" => Piece::TrialDir,
                        "run_dir" => Piece::RunDir,
                        _ => match space.position(name) {
                            Some(i) => Piece::Param(i),
                            None => {
                                let mut valid: Vec<&str> =
                                    space.params().iter().map(|p| p.name.as_str()).collect();
                                valid.extend(["trial", "seed", "trial_dir", "run_dir"]);
                                return Err(format!(
                                    "unknown placeholder `{{{name}}}` in `{s}`; {}",
                                    modnas_core::config::choices_hint(name, &valid)
                                        .replace("valid choices", "valid placeholders")
                                ));
                            }
                        },
                    });
                }
                '}' => {
                    return Err(format!(
                        "unmatched `}}` in `{s}` (write `}}}}` for a literal brace)"
                    ));
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() || pieces.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Template(pieces))
    }

    pub(super) fn render(
        &self,
        space: &ParamSpace,
        a: &Assignment,
        trial: u64,
        seed: u64,
        trial_dir: &str,
        run_dir: &str,
    ) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Param(i) => {
                    if let (Some(param), Some(v)) = (space.params().get(*i), a.get(*i)) {
                        out.push_str(&param.domain.render(v).to_string());
                    }
                }
                Piece::Trial => out.push_str(&trial.to_string()),
                Piece::Seed => out.push_str(&seed.to_string()),
                Piece::TrialDir => out.push_str(trial_dir),
                Piece::RunDir => out.push_str(run_dir),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::param::{Domain, Value};

    #[test]
    fn splitting() {
        assert_eq!(
            split_command("python3 f.py --x {x}").unwrap(),
            ["python3", "f.py", "--x", "{x}"]
        );
        assert_eq!(
            split_command("a 'b c' \"d \\\"e\" f\\ g").unwrap(),
            ["a", "b c", "d \"e", "f g"]
        );
        assert!(split_command("a 'b").is_err());
    }

    #[test]
    fn templates() {
        let mut s = ParamSpace::new();
        s.add(
            "x",
            Domain::Float {
                low: 0.0,
                high: 1.0,
                log: false,
            },
        )
        .unwrap();
        s.add(
            "act",
            Domain::Categorical {
                choices: vec![Value::from("relu"), Value::from("gelu")],
            },
        )
        .unwrap();
        let a = Assignment(vec![
            modnas_core::ParamValue::Float(0.25),
            modnas_core::ParamValue::Choice(1),
        ]);
        let t = Template::parse("--x={x};{act};{{lit}};{trial}", &s).unwrap();
        assert_eq!(t.render(&s, &a, 7, 9, "", ""), "--x=0.25;gelu;{lit};7");
        let e = Template::parse("{actt}", &s).unwrap_err();
        assert!(e.contains("did you mean `act`"), "{e}");
        assert!(Template::parse("{x", &s).is_err());
        assert!(Template::parse("x}", &s).is_err());
    }
}
