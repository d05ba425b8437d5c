//! Small input rules shared by the services: required text fields with length limits, emails.

use crate::error::{DomainError, DomainResult};

/// A required, trimmed, non-empty text field of at most `max` characters.
pub(crate) fn required_text(field: &str, value: Option<&str>, max: usize) -> DomainResult<String> {
    let value = value.ok_or_else(|| DomainError::missing(field))?.trim();
    if value.is_empty() {
        return Err(DomainError::validation(field, format!("`{field}` must not be empty")));
    }
    bounded(field, value, max)
}

/// An optional text field, trimmed, of at most `max` characters (may be empty).
pub(crate) fn optional_text(field: &str, value: Option<&str>, max: usize) -> DomainResult<String> {
    bounded(field, value.unwrap_or("").trim(), max)
}

fn bounded(field: &str, value: &str, max: usize) -> DomainResult<String> {
    if value.chars().count() > max {
        return Err(DomainError::validation(
            field,
            format!("`{field}` must be at most {max} characters"),
        ));
    }
    Ok(value.to_string())
}

/// A plausible email address: one `@`, something on each side, a dot in the domain, no spaces.
/// Deliverability is the verification step's job, not this one's.
pub(crate) fn email(value: Option<&str>) -> DomainResult<String> {
    let email = required_text("email", value, 254)?;
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !valid {
        return Err(DomainError::validation("email", "`email` is not a valid email address"));
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn emails() {
        assert_eq!(email(Some(" Ann@Example.com ")).unwrap(), "Ann@Example.com");
        for bad in ["", "ann", "ann@", "@x.io", "a b@x.io", "a@x", "a@.x", "a@x.", "a@b@c.io"] {
            assert!(email(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(email(None).unwrap_err().code, ErrorCode::MissingRequiredField);
    }

    #[test]
    fn text_limits() {
        assert_eq!(required_text("name", Some("  x "), 5).unwrap(), "x");
        assert_eq!(
            required_text("name", Some("   "), 5).unwrap_err().code,
            ErrorCode::ValidationFailed
        );
        assert!(required_text("name", Some("xxxxxx"), 5).is_err());
        assert_eq!(optional_text("d", None, 5).unwrap(), "");
    }
}
