//! CloudFormation through a role session: the outputs of the Costline stack.

use crate::error::{self, AwsError, Target};
use crate::organizations::to_chrono;
use crate::session::RoleSession;
use aws_sdk_cloudformation::types::Stack;
use chrono::{DateTime, Utc};
use costline_domain::RoleArn;
use std::collections::HashMap;

/// The Costline templates' output naming the role Costline assumes.
pub const ROLE_ARN_OUTPUT: &str = "RoleArn";
/// The Costline templates' output naming the template version a stack runs.
pub const TEMPLATE_VERSION_OUTPUT: &str = "TemplateVersion";

/// A stack and its outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackOutputs {
    /// The stack's ARN.
    pub stack_id: String,
    /// The stack's name.
    pub stack_name: String,
    /// e.g. `CREATE_COMPLETE`, `UPDATE_COMPLETE`.
    pub status: String,
    /// When it was last created or updated.
    pub updated_at: Option<DateTime<Utc>>,
    /// Output key to value.
    pub outputs: HashMap<String, String>,
}

impl StackOutputs {
    /// An output's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.outputs.get(key).map(String::as_str)
    }

    /// The `TemplateVersion` output: which Costline template the stack runs.
    pub fn template_version(&self) -> Option<&str> {
        self.get(TEMPLATE_VERSION_OUTPUT)
    }

    /// The `RoleArn` output.
    pub fn role_arn(&self) -> Option<&str> {
        self.get(ROLE_ARN_OUTPUT)
    }

    fn from_stack(stack: Stack) -> Self {
        let outputs = stack
            .outputs
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| Some((o.output_key?, o.output_value.unwrap_or_default())))
            .collect();
        Self {
            stack_id: stack.stack_id.unwrap_or_default(),
            stack_name: stack.stack_name.unwrap_or_default(),
            status: stack
                .stack_status
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            updated_at: stack
                .last_updated_time
                .or(stack.creation_time)
                .as_ref()
                .and_then(to_chrono),
            outputs,
        }
    }
}

impl RoleSession {
    /// DescribeStacks of one stack, by name or id, in the integration region of the role's
    /// partition (where the template's Rules create it).
    pub async fn describe_stack_outputs(&self, stack: &str) -> Result<StackOutputs, AwsError> {
        self.ensure_live()?;
        let target = Target::Stack {
            stack,
            region: &self.inner.cloudformation_region,
        };
        let out = self
            .inner
            .cloudformation
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| error::from_sdk("cloudformation", "DescribeStacks", target, e))?;
        out.stacks
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(StackOutputs::from_stack)
            .ok_or_else(|| AwsError::StackNotFound {
                stack: stack.to_string(),
                region: self.inner.cloudformation_region.clone(),
            })
    }

    /// The Costline stack of this session's role: among the account's live stacks, the one whose
    /// `RoleArn` output is this role (the most recently updated, should there be several);
    /// `None` when the role was made some other way (Terraform, by hand).
    pub async fn find_costline_stack(&self) -> Result<Option<StackOutputs>, AwsError> {
        self.ensure_live()?;
        let mut pages = self
            .inner
            .cloudformation
            .describe_stacks()
            .into_paginator()
            .send();
        let mut found: Option<StackOutputs> = None;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                error::from_sdk("cloudformation", "DescribeStacks", Target::Session, e)
            })?;
            for stack in page.stacks.unwrap_or_default() {
                let stack = StackOutputs::from_stack(stack);
                let names_this_role = stack
                    .role_arn()
                    .and_then(|arn| RoleArn::parse(arn).ok())
                    .is_some_and(|arn| &arn == self.role_arn());
                if names_this_role
                    && found
                        .as_ref()
                        .is_none_or(|f| stack.updated_at > f.updated_at)
                {
                    found = Some(stack);
                }
            }
        }
        Ok(found)
    }
}

impl RoleSession {
    /// The template body of the stack set `name` (DescribeStackSet), `None` when the account
    /// has no such stack set.
    pub async fn stack_set_template(&self, name: &str) -> Result<Option<String>, AwsError> {
        self.ensure_live()?;
        let found = self
            .inner
            .cloudformation
            .describe_stack_set()
            .stack_set_name(name)
            .send()
            .await;
        match found {
            Ok(out) => Ok(out.stack_set.and_then(|s| s.template_body)),
            Err(e) => {
                let not_found = e
                    .as_service_error()
                    .is_some_and(|e| e.is_stack_set_not_found_exception());
                if not_found {
                    Ok(None)
                } else {
                    Err(error::from_sdk(
                        "cloudformation",
                        "DescribeStackSet",
                        Target::Session,
                        e,
                    ))
                }
            }
        }
    }
}
