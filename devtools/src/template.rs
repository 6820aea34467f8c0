//! Configuration templates: text files with `{{NAME}}` placeholders (nginx and Envoy
//! configurations, wrk scripts), filled by one function that checks every placeholder.

use std::fmt;

/// Why a template could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateError {
    /// A value was given for a placeholder the template does not have (a renamed placeholder,
    /// or the wrong template).
    UnknownPlaceholder {
        /// The placeholder's name.
        name: String,
    },
    /// A placeholder of the template has no value.
    Unfilled {
        /// The placeholder's name.
        name: String,
        /// Its line in the template, from 1.
        line: usize,
    },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::UnknownPlaceholder { name } => {
                write!(f, "the template has no {{{{{name}}}}} placeholder")
            }
            TemplateError::Unfilled { name, line } => {
                write!(f, "line {line}: placeholder {{{{{name}}}}} has no value")
            }
        }
    }
}

impl std::error::Error for TemplateError {}

/// Fills `template`: every `{{NAME}}` is replaced by the value of `NAME` in `values`.
///
/// Values are inserted as they are (quoting is the caller's: YAML, Lua and nginx quote
/// differently). Every value must name a placeholder of the template, and every placeholder
/// must get a value, so a template and its caller cannot drift apart unnoticed.
///
/// # Errors
///
/// [`TemplateError::UnknownPlaceholder`] for a value no placeholder takes,
/// [`TemplateError::Unfilled`] for the first placeholder left without a value.
pub fn render(template: &str, values: &[(&str, &str)]) -> Result<String, TemplateError> {
    for (name, _) in values {
        if !template.contains(&format!("{{{{{name}}}}}")) {
            return Err(TemplateError::UnknownPlaceholder { name: (*name).to_owned() });
        }
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = &after[..end];
        out.push_str(&rest[..start]);
        let Some((_, value)) = values.iter().find(|(known, _)| *known == name) else {
            let offset = template.len() - rest.len() + start;
            let line = template[..offset].matches('\n').count() + 1;
            return Err(TemplateError::Unfilled { name: name.to_owned(), line });
        };
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_replaced_wherever_it_stands() {
        let text = render("a {{X}} b {{Y}}\n{{X}}\n", &[("X", "1"), ("Y", "two")]);
        assert_eq!(text.as_deref(), Ok("a 1 b two\n1\n"));
    }

    #[test]
    fn a_placeholder_without_a_value_is_reported_with_its_line() {
        assert_eq!(
            render("one\ntwo {{X}}\n{{Y}}\n", &[("X", "1")]),
            Err(TemplateError::Unfilled { name: "Y".to_owned(), line: 3 })
        );
        assert_eq!(
            render("{{Y}}", &[]),
            Err(TemplateError::Unfilled { name: "Y".to_owned(), line: 1 })
        );
    }

    #[test]
    fn a_value_without_a_placeholder_is_reported() {
        assert_eq!(
            render("no placeholder", &[("X", "1")]),
            Err(TemplateError::UnknownPlaceholder { name: "X".to_owned() })
        );
    }

    #[test]
    fn values_are_not_scanned_for_placeholders() {
        assert_eq!(render("{{X}}", &[("X", "{{Y}}")]).as_deref(), Ok("{{Y}}"));
    }

    #[test]
    fn single_braces_are_text() {
        assert_eq!(render("events { a; }", &[]).as_deref(), Ok("events { a; }"));
    }
}
