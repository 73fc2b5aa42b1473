//! Glance's policy checks (`policy.json`): which rule guards which action, the stock rules,
//! and loading an operator's file. Supported rule syntax: `""` and `"@"` (allow), `"!"`
//! (deny), `"role:<name>"` (case-insensitive), `"rule:<other>"`, and `or` between them;
//! anything else is refused at start-up rather than silently allowed.

use std::collections::HashMap;
use std::path::Path;

use crate::auth::Caller;

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `""` or `"@"`.
    Allow,
    /// `"!"`.
    Deny,
    /// `"role:<name>"`, name lower-cased.
    Role(String),
    /// `"rule:<name>"`.
    Ref(String),
    /// `a or b or ...`.
    Any(Vec<Rule>),
}

impl Rule {
    /// Parses one rule string; `Err` names what is not supported.
    pub fn parse(text: &str) -> Result<Rule, String> {
        let t = text.trim();
        let parts: Vec<&str> = t.split(" or ").map(str::trim).collect();
        if parts.len() > 1 {
            return parts
                .into_iter()
                .map(Rule::parse)
                .collect::<Result<Vec<_>, _>>()
                .map(Rule::Any);
        }
        match t {
            "" | "@" => Ok(Rule::Allow),
            "!" => Ok(Rule::Deny),
            _ => {
                // A name never holds whitespace: "role:a and role:b" is `and`, not a role.
                let name_ok = |r: &&str| !r.is_empty() && !r.contains(char::is_whitespace);
                if let Some(r) = t.strip_prefix("role:").filter(name_ok) {
                    Ok(Rule::Role(r.to_lowercase()))
                } else if let Some(r) = t.strip_prefix("rule:").filter(name_ok) {
                    Ok(Rule::Ref(r.to_string()))
                } else {
                    Err(format!(
                        "unsupported rule syntax '{text}' (supported: \"\", \"@\", \"!\", \"role:NAME\", \"rule:NAME\", joined with \" or \")"
                    ))
                }
            }
        }
    }
}

/// The rule set in force.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: HashMap<String, Rule>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::stock()
    }
}

impl Policy {
    /// Glance 15's shipped `policy.json` (the parts v1 consults): everything open except
    /// `publicize_image` (and the fallback `default`), which need the `admin` role.
    pub fn stock() -> Self {
        let mut rules = HashMap::new();
        for name in [
            "add_image",
            "delete_image",
            "get_image",
            "get_images",
            "modify_image",
            "copy_from",
            "download_image",
            "upload_image",
            "add_member",
            "delete_member",
            "get_member",
            "get_members",
            "modify_member",
        ] {
            rules.insert(name.to_string(), Rule::Allow);
        }
        for name in ["publicize_image", "context_is_admin", "default"] {
            rules.insert(name.to_string(), Rule::Role("admin".into()));
        }
        Policy { rules }
    }

    /// The stock rules overlaid with an operator's `policy.json`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| format!("{}: invalid JSON: {e}", path.display()))?;
        let mut policy = Policy::stock();
        for (name, value) in map {
            let text = value
                .as_str()
                .ok_or_else(|| format!("{}: {name}: a rule must be a string", path.display()))?;
            let rule = Rule::parse(text).map_err(|e| format!("{}: {name}: {e}", path.display()))?;
            policy.rules.insert(name, rule);
        }
        for (name, rule) in &policy.rules {
            policy
                .check_refs(rule, 0)
                .map_err(|e| format!("{}: {name}: {e}", path.display()))?;
        }
        Ok(policy)
    }

    fn check_refs(&self, rule: &Rule, depth: usize) -> Result<(), String> {
        if depth > 16 {
            return Err("rule references nest too deeply (a cycle?)".into());
        }
        match rule {
            Rule::Ref(r) => match self.rules.get(r) {
                Some(next) => self.check_refs(next, depth + 1),
                None => Err(format!("refers to unknown rule '{r}'")),
            },
            Rule::Any(list) => list.iter().try_for_each(|r| self.check_refs(r, depth)),
            _ => Ok(()),
        }
    }

    /// Whether `caller` passes the rule `action` (an unknown action uses `default`).
    pub fn allows(&self, action: &str, caller: &Caller) -> bool {
        let rule = self.rules.get(action).or_else(|| self.rules.get("default"));
        rule.is_some_and(|r| self.eval(r, caller, 0))
    }

    fn eval(&self, rule: &Rule, caller: &Caller, depth: usize) -> bool {
        match rule {
            Rule::Allow => true,
            Rule::Deny => false,
            Rule::Role(r) => caller.roles.iter().any(|x| x == r),
            Rule::Ref(name) => {
                depth < 16
                    && self
                        .rules
                        .get(name)
                        .is_some_and(|r| self.eval(r, caller, depth + 1))
            }
            Rule::Any(list) => list.iter().any(|r| self.eval(r, caller, depth)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_roles(roles: &[&str]) -> Caller {
        Caller {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Caller::default()
        }
    }

    // Rule: The stock policy lets every caller get images and only admins publicize; unknown actions are refused.
    #[test]
    fn stock_rules() {
        let p = Policy::stock();
        assert!(p.allows("get_image", &Caller::noauth()));
        assert!(!p.allows("publicize_image", &Caller::noauth()));
        assert!(p.allows("publicize_image", &with_roles(&["admin"])));
        assert!(!p.allows("no_such_action", &with_roles(&["member"])));
    }

    // Rule: Policy rule text parses to the rule tree Glance's policy engine read (`!`, roles lower-cased, `or`, `rule:`).
    #[test]
    fn parsing() {
        assert_eq!(Rule::parse("!"), Ok(Rule::Deny));
        assert_eq!(Rule::parse("role:Admin"), Ok(Rule::Role("admin".into())));
        assert_eq!(
            Rule::parse("role:a or rule:b"),
            Ok(Rule::Any(vec![
                Rule::Role("a".into()),
                Rule::Ref("b".into())
            ]))
        );
        assert!(Rule::parse("is_admin:True").is_err());
        assert!(Rule::parse("role:a and role:b").is_err());
    }

    // Rule: A policy file overlays the stock rules, and bad rule syntax is refused at load.
    #[test]
    fn load_overlays_stock_and_rejects_bad_syntax() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("policy.json");
        std::fs::write(
            &f,
            r#"{"download_image": "role:reader or rule:context_is_admin"}"#,
        )
        .unwrap();
        let p = Policy::load(&f).unwrap();
        assert!(p.allows("download_image", &with_roles(&["reader"])));
        assert!(p.allows("download_image", &with_roles(&["admin"])));
        assert!(!p.allows("download_image", &with_roles(&["member"])));
        assert!(p.allows("get_image", &with_roles(&["member"])));
        std::fs::write(&f, r#"{"get_image": "tenant:%(tenant)s"}"#).unwrap();
        let e = Policy::load(&f).unwrap_err();
        assert!(
            e.contains("policy.json: get_image: unsupported rule syntax"),
            "{e}"
        );
        std::fs::write(&f, r#"{"get_image": "rule:nowhere"}"#).unwrap();
        assert!(Policy::load(&f)
            .unwrap_err()
            .contains("unknown rule 'nowhere'"));
    }
}
