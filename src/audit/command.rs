//! Reading the cluster for `lameduck audit`: the only part of the audit that talks to
//! the API server (through `crate::cluster`).

use std::collections::BTreeSet;

use super::{NamespaceScope, Options, Report, Targets};
use crate::cluster::inventory::{self, InventoryError, Scope};
use crate::cluster::versions;
use crate::plan::{ActionSetting, HookAction, Settings};
use crate::scope::Mode;
use crate::text::is_dns_label;

/// What `lameduck audit` reads and how the audited server is configured.
#[derive(Debug, Clone)]
pub struct AuditRequest {
    /// Only this namespace (whatever lameduck's scope says about it).
    pub namespace: Option<String>,
    /// Every namespace, including those the webhook does not inject.
    pub all_namespaces: bool,
    /// The server's `--mode`.
    pub mode: Mode,
    /// Namespaces the webhook configuration never selects.
    pub excluded_namespaces: Vec<String>,
    /// The chart's `targets`.
    pub targets: Targets,
    /// Objects per list request.
    pub page_size: u32,
    /// The server's planning settings.
    pub settings: Settings,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0:?} is not a namespace name")]
    NamespaceName(String),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(
        "--action auto needs the cluster's versions (or pass --action sleep or --action exec, as the server decided)"
    )]
    Versions(#[source] crate::cluster::ClusterError),
}

impl AuditRequest {
    /// Reads the cluster through `client` and judges every workload in scope.
    pub async fn report(&self, client: &kube::Client) -> Result<Report, AuditError> {
        let AuditRequest {
            namespace,
            all_namespaces,
            mode,
            excluded_namespaces,
            targets,
            page_size,
            settings,
        } = self;
        if let Some(name) = namespace
            && !is_dns_label(name)
        {
            return Err(AuditError::NamespaceName(name.clone()));
        }
        let mut options = Options::new(settings.clone(), *mode);
        options.excluded = excluded_namespaces
            .iter()
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
            .collect::<BTreeSet<_>>();
        options.targets = *targets;
        // `auto` must mean what it means to the server, or every pod would look stale;
        // so must whether `wait` can run.
        if matches!(
            options.settings.action,
            ActionSetting::Auto | ActionSetting::Fixed(HookAction::Wait)
        ) {
            let choice = versions::read_choice(client, 100)
                .await
                .map_err(AuditError::Versions)?;
            options.auto_action = choice.action;
            options.auto_reason = choice.reason;
            options.wait_unavailable = choice.wait_unavailable;
        }

        let scope = match namespace {
            Some(name) => Scope::Namespace(name.clone()),
            None => Scope::All,
        };
        let inventory = inventory::read(client, &scope, *page_size).await?;
        Ok(super::audit(&inventory, &options, |_, ns_scope| {
            namespace.is_some() || *all_namespaces || ns_scope == NamespaceScope::Injected
        }))
    }
}
