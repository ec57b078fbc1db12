//! A CloudFormation template read as JSON, with the intrinsic functions the templates use
//! (Ref, Fn::Sub, Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Fn::Contains, Condition)
//! evaluated for given parameters, partition and region.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// Parses YAML into JSON values. CloudFormation's short-form tags (`!Sub`) are not used by the
/// templates; a tagged node would come through untagged and fail the comparisons.
pub fn parse_yaml(source: &str) -> Value {
    let mut documents = YamlLoader::load_from_str(source).expect("valid YAML");
    assert_eq!(documents.len(), 1, "one YAML document");
    to_json(documents.remove(0))
}

fn to_json(yaml: Yaml) -> Value {
    match yaml {
        Yaml::String(s) => Value::String(s),
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(r) => Value::from(r.parse::<f64>().expect("YAML real")),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        Yaml::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Yaml::Hash(hash) => {
            let mut map = Map::new();
            for (key, value) in hash {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => panic!("unsupported YAML key {other:?}"),
                };
                assert!(
                    map.insert(key.clone(), to_json(value)).is_none(),
                    "duplicate key {key}"
                );
            }
            Value::Object(map)
        }
        other => panic!("unsupported YAML node {other:?}"),
    }
}

/// A template with its parameters bound, ready to evaluate resource properties.
pub struct Stack {
    pub template: Value,
    values: BTreeMap<String, Value>,
    conditions: BTreeMap<String, bool>,
}

impl Stack {
    /// Binds `parameters` (others take their defaults), the pseudo parameters of a stack in
    /// `region` of `partition`, and the `Ref` value of each resource in `resource_refs`.
    pub fn in_region(
        source: &str,
        parameters: &[(&str, &str)],
        resource_refs: &[(&str, &str)],
        partition: &str,
        region: &str,
    ) -> Self {
        let template = parse_yaml(source);
        let mut values = BTreeMap::new();
        for (name, declaration) in template["Parameters"].as_object().expect("Parameters") {
            if let Some(default) = declaration.get("Default") {
                values.insert(name.clone(), default.clone());
            }
        }
        for (name, value) in parameters {
            assert!(
                template["Parameters"].get(*name).is_some(),
                "no parameter {name} in the template"
            );
            values.insert((*name).to_owned(), Value::from(*value));
        }
        for (name, value) in [
            ("AWS::Partition", partition),
            ("AWS::AccountId", "444455556666"),
            ("AWS::Region", region),
            ("AWS::StackName", "Costline"),
        ] {
            values.insert(name.to_owned(), Value::from(value));
        }
        for (name, value) in resource_refs {
            assert!(
                template["Resources"].get(*name).is_some(),
                "no resource {name} in the template"
            );
            values.insert((*name).to_owned(), Value::from(*value));
        }
        let mut stack = Self {
            template,
            values,
            conditions: BTreeMap::new(),
        };
        if let Some(conditions) = stack.template.get("Conditions").cloned() {
            for (name, condition) in conditions.as_object().expect("Conditions") {
                let value = stack.condition(condition);
                stack.conditions.insert(name.clone(), value);
            }
        }
        stack
    }

    /// A resource's declaration, unevaluated.
    pub fn resource(&self, logical_id: &str) -> &Value {
        self.template["Resources"]
            .get(logical_id)
            .unwrap_or_else(|| panic!("no resource {logical_id}"))
    }

    /// Whether the stack creates the resource (it has no `Condition`, or a true one).
    pub fn creates(&self, logical_id: &str) -> bool {
        match self.resource(logical_id).get("Condition") {
            None => true,
            Some(name) => self.named_condition(name),
        }
    }

    /// Whether every assertion of every rule holds (CloudFormation refuses to create the stack
    /// otherwise). Rule conditions are not used by the templates.
    pub fn rules_hold(&self) -> bool {
        let Some(rules) = self.template.get("Rules") else {
            return true;
        };
        rules.as_object().expect("Rules").values().all(|rule| {
            assert!(
                rule.get("RuleCondition").is_none(),
                "RuleCondition unsupported"
            );
            rule["Assertions"]
                .as_array()
                .expect("Assertions")
                .iter()
                .all(|assertion| self.condition(&assertion["Assert"]))
        })
    }

    /// A resource property, evaluated.
    pub fn property(&self, logical_id: &str, path: &[&str]) -> Value {
        let mut node = &self.resource(logical_id)["Properties"];
        for key in path {
            node = node
                .get(*key)
                .unwrap_or_else(|| panic!("{logical_id} has no {path:?}"));
        }
        self.eval(node).unwrap_or(Value::Null)
    }

    /// Evaluates intrinsic functions; `None` is `AWS::NoValue`, which removes its key or item.
    pub fn eval(&self, node: &Value) -> Option<Value> {
        match node {
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|item| self.eval(item)).collect(),
            )),
            Value::Object(map) if map.len() == 1 => {
                let (key, argument) = map.iter().next().expect("one key");
                match key.as_str() {
                    "Ref" => self.reference(argument.as_str().expect("Ref name")),
                    "Fn::Sub" => Some(Value::String(self.sub(argument))),
                    "Fn::If" => {
                        let [name, then, otherwise] = three(argument);
                        if self.named_condition(name) {
                            self.eval(then)
                        } else {
                            self.eval(otherwise)
                        }
                    }
                    other if other.starts_with("Fn::") || other == "Condition" => {
                        panic!("intrinsic {other} is not supported by this test")
                    }
                    _ => Some(self.eval_object(map)),
                }
            }
            Value::Object(map) => Some(self.eval_object(map)),
            scalar => Some(scalar.clone()),
        }
    }

    fn eval_object(&self, map: &Map<String, Value>) -> Value {
        Value::Object(
            map.iter()
                .filter_map(|(k, v)| self.eval(v).map(|v| (k.clone(), v)))
                .collect(),
        )
    }

    fn reference(&self, name: &str) -> Option<Value> {
        if name == "AWS::NoValue" {
            return None;
        }
        Some(
            self.values
                .get(name)
                .unwrap_or_else(|| panic!("Ref {name} is not bound"))
                .clone(),
        )
    }

    fn sub(&self, argument: &Value) -> String {
        let (text, locals) = match argument {
            Value::String(text) => (text.as_str(), Map::new()),
            Value::Array(items) if items.len() == 2 => (
                items[0].as_str().expect("Fn::Sub string"),
                items[1].as_object().expect("Fn::Sub map").clone(),
            ),
            other => panic!("bad Fn::Sub {other}"),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').expect("closing brace in Fn::Sub");
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                assert!(
                    !name.contains('.'),
                    "Fn::Sub attribute ${{{name}}} unsupported"
                );
                let value = match locals.get(name) {
                    Some(local) => self.eval(local).expect("Fn::Sub local value"),
                    None => self.reference(name).expect("Fn::Sub value"),
                };
                out.push_str(value.as_str().expect("Fn::Sub string value"));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn named_condition(&self, name: &Value) -> bool {
        let name = name.as_str().expect("condition name");
        *self
            .conditions
            .get(name)
            .unwrap_or_else(|| panic!("no condition {name}"))
    }

    fn condition(&self, node: &Value) -> bool {
        let map = node.as_object().expect("condition function");
        assert_eq!(map.len(), 1, "one condition function");
        let (function, argument) = map.iter().next().expect("one key");
        let items = || argument.as_array().expect("condition arguments");
        match function.as_str() {
            "Fn::Equals" => {
                let [a, b] = two(argument);
                self.eval(a) == self.eval(b)
            }
            "Fn::Not" => !self.condition(&items()[0]),
            "Fn::And" => items().iter().all(|c| self.condition(c)),
            "Fn::Or" => items().iter().any(|c| self.condition(c)),
            "Fn::Contains" => {
                let [list, value] = two(argument);
                let value = self.eval(value);
                list.as_array()
                    .expect("Fn::Contains list")
                    .iter()
                    .any(|item| self.eval(item) == value)
            }
            "Condition" => self.named_condition(argument),
            other => panic!("condition function {other} is not supported by this test"),
        }
    }

    /// The declared parameter names, sorted.
    pub fn parameter_names(&self) -> Vec<String> {
        keys(&self.template["Parameters"])
    }

    /// The declared output names, sorted.
    pub fn output_names(&self) -> Vec<String> {
        keys(&self.template["Outputs"])
    }

    /// An output's value, evaluated.
    pub fn output(&self, name: &str) -> Value {
        let output = self.template["Outputs"]
            .get(name)
            .unwrap_or_else(|| panic!("no output {name}"));
        self.eval(&output["Value"]).expect("output value")
    }
}

fn keys(node: &Value) -> Vec<String> {
    // Sorted here: serde_json keeps insertion order when another crate in the
    // build enables its `preserve_order` feature.
    let mut keys: Vec<String> = node
        .as_object()
        .expect("a mapping")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn two(argument: &Value) -> [&Value; 2] {
    match argument.as_array().map(Vec::as_slice) {
        Some([a, b]) => [a, b],
        _ => panic!("expected two arguments, got {argument}"),
    }
}

fn three(argument: &Value) -> [&Value; 3] {
    match argument.as_array().map(Vec::as_slice) {
        Some([a, b, c]) => [a, b, c],
        _ => panic!("expected three arguments, got {argument}"),
    }
}
