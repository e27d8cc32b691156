//! Reading a pod template the way every pass must: the plan's input, and what an earlier
//! pass left (its status record, which hooks are still its own, the grace the user
//! submitted). The webhook, `mutate`, `explain` and `audit` all read through this.

use std::collections::BTreeMap;

use crate::inject::status::Status;
use crate::plan::annotations::{self, Annotations};
use crate::plan::wait::{ProbeTarget, WAITER_NAME};
use crate::plan::{
    self, ContainerInput, Environment, Planned, PodInput, PodNetwork, Settings, Warning,
    WarningReason,
};
use crate::workload::{Container, PodTemplate};

use super::hook_value;

static NO_ANNOTATIONS: Annotations = BTreeMap::new();

/// Where a waiter lameduck injected sits in the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaiterSlot {
    /// At this index in `containers`.
    Container(usize),
    /// At this index in `initContainers`, as a native sidecar.
    InitContainer(usize),
}

/// A pod template as lameduck reads it, borrowed from the parsed template.
#[derive(Debug)]
pub struct TemplateView<'t> {
    template: &'t PodTemplate,
    annotations: &'t Annotations,
    /// What an earlier pass recorded; empty when there was none.
    previous: Status,
    /// Per regular container: its `preStop` is lameduck's, because it still equals what
    /// the record says was injected. Anything else is the user's.
    ours: Vec<bool>,
    inputs: Vec<ContainerInput<'t>>,
    /// The regular containers lameduck plans: all but its own waiter.
    planned: Vec<&'t Container>,
    native_sidecars: Vec<&'t str>,
    /// Where the waiter an earlier pass injected is.
    waiter: Option<WaiterSlot>,
    /// A container named like the waiter that is not lameduck's.
    waiter_name_taken: bool,
    /// Ports the pod's containers declare or probe (the waiter's own excluded).
    ports: Vec<u16>,
    /// Readiness and liveness probes of the containers that run during termination.
    probes: Vec<ProbeTarget>,
    host_network: bool,
    current_grace: Option<i64>,
    /// A status annotation that is not lameduck's record.
    status_warning: Option<Warning>,
}

impl<'t> TemplateView<'t> {
    pub fn read(template: &'t PodTemplate) -> Self {
        let annotations = template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .unwrap_or(&NO_ANNOTATIONS);
        let spec = template.spec.as_ref();
        let containers: &'t [Container] = spec.map_or(&[], |s| s.containers.as_slice());
        let init_containers: &'t [Container] = spec.map_or(&[], |s| s.init_containers.as_slice());

        let mut status_warning = None;
        let previous = match annotations.get(annotations::STATUS) {
            Some(text) => Status::parse(text).unwrap_or_else(|| {
                status_warning = Some(Warning::new(
                    WarningReason::InvalidStatus,
                    format!("{} is not lameduck's record; replaced", annotations::STATUS),
                ));
                Status::default()
            }),
            None => Status::default(),
        };
        // The waiter is lameduck's when the record names it, it still runs `lameduck
        // waiter`, and it is where lameduck puts one (a regular container, or a native
        // sidecar); then it is taken out like a hook and planned afresh. A container of
        // the user's that only shares the name is never taken (a copied record).
        let runs_waiter = |c: &Container| {
            c.args
                .as_ref()
                .and_then(|args| args.get(0))
                .and_then(serde_json::Value::as_str)
                == Some("waiter")
        };
        let waiter = previous.waiter.as_deref().and_then(|name| {
            containers
                .iter()
                .position(|c| c.name == name && runs_waiter(c))
                .map(WaiterSlot::Container)
                .or_else(|| {
                    init_containers
                        .iter()
                        .position(|c| c.name == name && runs_waiter(c) && c.is_native_sidecar())
                        .map(WaiterSlot::InitContainer)
                })
        });
        let planned: Vec<&'t Container> = containers
            .iter()
            .enumerate()
            .filter(|(index, _)| waiter != Some(WaiterSlot::Container(*index)))
            .map(|(_, c)| c)
            .collect();
        let ours: Vec<bool> = planned
            .iter()
            .map(|c| match (c.pre_stop(), previous.pre_stop.get(&c.name)) {
                (Some(hook), Some(&injected)) => *hook == hook_value(injected),
                _ => false,
            })
            .collect();
        let inputs = planned
            .iter()
            .zip(&ours)
            .map(|(c, &ours)| ContainerInput {
                name: &c.name,
                image: c.image.as_deref(),
                has_own_pre_stop: c.pre_stop().is_some() && !ours,
                own_call: c.pre_stop_call().filter(|_| !ours),
                ports: &c.ports,
            })
            .collect();
        let others = || {
            init_containers
                .iter()
                .enumerate()
                .filter(move |(index, _)| waiter != Some(WaiterSlot::InitContainer(*index)))
                .map(|(_, c)| c)
        };
        let native_sidecars = others()
            .filter(|c| c.is_native_sidecar())
            .map(|c| c.name.as_str())
            .collect();
        let waiter_name_taken = planned
            .iter()
            .copied()
            .chain(others())
            .any(|c| c.name == WAITER_NAME);
        let mut ports: Vec<u16> = planned
            .iter()
            .copied()
            .chain(others())
            .flat_map(|c| {
                c.declared_ports()
                    .map(|(_, port)| port)
                    .chain(c.probed_ports())
                    .collect::<Vec<_>>()
            })
            .collect();
        ports.sort_unstable();
        ports.dedup();
        let probes = planned
            .iter()
            .copied()
            .chain(others().filter(|c| c.is_native_sidecar()))
            .flat_map(Container::termination_probes)
            .map(|(port, period)| ProbeTarget { port, period })
            .collect();
        TemplateView {
            template,
            annotations,
            previous,
            ours,
            inputs,
            planned,
            native_sidecars,
            waiter,
            waiter_name_taken,
            ports,
            probes,
            host_network: spec.is_some_and(|s| s.host_network()),
            current_grace: spec.and_then(|s| s.termination_grace_period_seconds),
            status_warning,
        }
    }

    pub fn template(&self) -> &'t PodTemplate {
        self.template
    }

    pub fn annotations(&self) -> &'t Annotations {
        self.annotations
    }

    /// The regular containers lameduck plans, in order (its own waiter left out); `ours`,
    /// `inputs` and plans follow this order.
    pub fn containers(&self) -> &[&'t Container] {
        &self.planned
    }

    /// The index in the template's `containers` of planned container `index`.
    pub fn spec_index(&self, index: usize) -> usize {
        match self.waiter {
            Some(WaiterSlot::Container(waiter)) if index >= waiter => index + 1,
            _ => index,
        }
    }

    /// Every regular container, the waiter included.
    pub fn all_containers(&self) -> &'t [Container] {
        self.template
            .spec
            .as_ref()
            .map_or(&[], |s| s.containers.as_slice())
    }

    /// Whether container `index` carries a `preStop` lameduck injected.
    pub fn is_ours(&self, index: usize) -> bool {
        self.ours.get(index).copied().unwrap_or(false)
    }

    /// Whether container `index` carries a `preStop` the user wrote.
    pub fn has_own_hook(&self, index: usize) -> bool {
        self.inputs.get(index).is_some_and(|c| c.has_own_pre_stop)
    }

    pub fn native_sidecars(&self) -> &[&'t str] {
        &self.native_sidecars
    }

    /// Where the waiter an earlier pass injected is.
    pub fn waiter(&self) -> Option<WaiterSlot> {
        self.waiter
    }

    pub fn init_containers(&self) -> &'t [Container] {
        self.template
            .spec
            .as_ref()
            .map_or(&[], |s| s.init_containers.as_slice())
    }

    /// The grace period as the object carries it now.
    pub fn current_grace(&self) -> Option<i64> {
        self.current_grace
    }

    /// The grace period the user asked for, before any earlier lameduck pass.
    pub fn submitted_grace(&self) -> Option<i64> {
        self.previous.submitted_grace(self.current_grace)
    }

    pub fn pod_input(&self) -> PodInput<'_> {
        PodInput {
            annotations: self.annotations,
            containers: &self.inputs,
            native_sidecars: &self.native_sidecars,
            restart_policy: self
                .template
                .spec
                .as_ref()
                .and_then(|s| s.restart_policy.as_deref()),
            submitted_grace: self.submitted_grace(),
            windows: self
                .template
                .spec
                .as_ref()
                .is_some_and(|spec| spec.is_windows()),
            network: PodNetwork {
                host_network: self.host_network,
                ports: &self.ports,
                probes: &self.probes,
                waiter_name_taken: self.waiter_name_taken,
            },
        }
    }

    /// Plans the template; a status annotation that is not lameduck's is the first warning.
    pub fn plan(&self, env: &Environment, settings: &Settings) -> Planned {
        let mut planned = plan::plan(&self.pod_input(), env, settings);
        if let Some(warning) = &self.status_warning {
            planned.warnings.insert(0, warning.clone());
        }
        planned
    }
}
