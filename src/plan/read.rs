//! Reading a pod's (and its namespace's) annotations into an action, budgets and
//! per-container overrides, with a warning for every value that is not used as written.

use std::ops::Bound;

use super::annotations::{self, Bounds, ContainerField, Key, Layers, Origin};
use super::model::{ActionSetting, Budgets, DEFAULT_GRACE_SECONDS, PodInput, Settings};
use super::role::Role;
use super::wait::WaitOn;
use super::warning::{Warning, WarningReason};

/// Per-container annotation overrides, already validated.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Overrides {
    pub(super) role: Option<Role>,
    pub(super) sleep: Option<u64>,
    pub(super) shutdown: Option<u64>,
}

pub(super) fn action(layers: &Layers, warnings: &mut Vec<Warning>) -> Option<ActionSetting> {
    let (value, source) = layers.lookup(annotations::ACTION)?;
    match value.parse() {
        Ok(action) => Some(action),
        Err(_) => {
            annotations::invalid_choice(
                annotations::ACTION,
                value,
                source,
                "sleep, exec, wait, auto",
                warnings,
            );
            None
        }
    }
}

/// A pod-level duration annotation from the pod, else its namespace (`Layers::lookup`),
/// read and bounded with a warning when it is off.
fn layered_duration(
    layers: &Layers,
    key: &str,
    bounds: Bounds,
    warnings: &mut Vec<Warning>,
) -> Option<u64> {
    layers.lookup(key).and_then(|(value, source)| {
        annotations::read_duration(key, value, source, bounds, warnings)
    })
}

pub(super) fn budgets(
    pod: &PodInput,
    layers: &Layers,
    settings: &Settings,
    warnings: &mut Vec<Warning>,
) -> Budgets {
    let mut duration = |key: &str, bounds: Bounds| layered_duration(layers, key, bounds, warnings);
    let sleep = duration(
        annotations::SLEEP,
        Bounds {
            min: 0,
            max: settings.max_sleep,
        },
    )
    .unwrap_or(settings.default_sleep);
    let stagger = duration(
        annotations::STAGGER,
        Bounds {
            min: 1,
            max: settings.max_sleep,
        },
    )
    .unwrap_or(settings.default_stagger)
    .max(1);
    let shutdown = duration(
        annotations::SHUTDOWN,
        Bounds {
            min: 1,
            max: settings.max_grace,
        },
    )
    .unwrap_or_else(|| {
        let submitted = pod.submitted_grace.unwrap_or(DEFAULT_GRACE_SECONDS);
        u64::try_from(submitted)
            .unwrap_or(0)
            .min(settings.max_grace)
    })
    .max(1);
    Budgets {
        sleep,
        shutdown,
        stagger,
    }
}

/// The `wait` bounds `(min, max)`: annotations, else the server's, both capped by
/// `--max-sleep`; a `min` above `max` is lowered to it, with a warning.
pub(super) fn wait_bounds(
    layers: &Layers,
    settings: &Settings,
    warnings: &mut Vec<Warning>,
) -> (u64, u64) {
    let mut duration = |key: &str, bounds: Bounds| layered_duration(layers, key, bounds, warnings);
    let max = duration(
        annotations::WAIT_MAX,
        Bounds {
            min: 1,
            max: settings.max_sleep.max(1),
        },
    )
    .unwrap_or(settings.wait.max)
    .max(1);
    let min = duration(
        annotations::WAIT_MIN,
        Bounds {
            min: 0,
            max: settings.max_sleep,
        },
    )
    .unwrap_or(settings.wait.min);
    if min > max {
        warnings.push(Warning::new(
            WarningReason::ClampedAnnotation,
            format!(
                "{} ({min}s) is above {} ({max}s); lowered to {max}s",
                annotations::WAIT_MIN,
                annotations::WAIT_MAX
            ),
        ));
        return (max, max);
    }
    (min, max)
}

/// What holds a waiting pod: the annotation (pod, else namespace), else the server's.
pub(super) fn wait_on(layers: &Layers, settings: &Settings, warnings: &mut Vec<Warning>) -> WaitOn {
    let Some((value, source)) = layers.lookup(annotations::WAIT_ON) else {
        return settings.wait.on;
    };
    value.parse().unwrap_or_else(|_| {
        annotations::invalid_choice(
            annotations::WAIT_ON,
            value,
            source,
            "requests, connections",
            warnings,
        );
        settings.wait.on
    })
}

/// Reads every `lameduck.dev/<container>.<field>` and flags keys that mean nothing.
pub(super) fn container_overrides(
    pod: &PodInput,
    settings: &Settings,
    warnings: &mut Vec<Warning>,
) -> Vec<Overrides> {
    let mut overrides = vec![Overrides::default(); pod.containers.len()];
    for (key, value) in pod
        .annotations
        .range::<str, _>((Bound::Included(annotations::PREFIX), Bound::Unbounded))
    {
        let Some(kind) = annotations::classify(key) else {
            break; // Sorted keys: past the prefix, nothing more is ours.
        };
        let (name, field) = match kind {
            Key::Pod(_) => continue,
            Key::Unknown => {
                warnings.push(Warning::new(
                    WarningReason::UnknownAnnotation,
                    format!("unknown annotation {key}; ignored"),
                ));
                continue;
            }
            Key::Container(name, field) => (name, field),
        };
        let Some(index) = pod.containers.iter().position(|c| c.name == name) else {
            let what = if pod.native_sidecars.contains(&name) {
                "names a native sidecar, which gets no preStop"
            } else {
                "names no container of this pod"
            };
            warnings.push(Warning::new(
                WarningReason::UnknownContainer,
                format!("{key} {what}; ignored"),
            ));
            continue;
        };
        let slot = &mut overrides[index];
        match field {
            ContainerField::Role => match value.parse() {
                Ok(role) => slot.role = Some(role),
                Err(()) => annotations::invalid_choice(
                    key,
                    value,
                    Origin::Pod,
                    "proxy, app, sidecar, skip",
                    warnings,
                ),
            },
            ContainerField::Sleep => {
                let bounds = Bounds {
                    min: 0,
                    max: settings.max_sleep,
                };
                slot.sleep = annotations::read_duration(key, value, Origin::Pod, bounds, warnings);
            }
            ContainerField::Shutdown => {
                let bounds = Bounds {
                    min: 1,
                    max: settings.max_grace,
                };
                slot.shutdown =
                    annotations::read_duration(key, value, Origin::Pod, bounds, warnings);
            }
        }
    }
    for (slot, input) in overrides.iter_mut().zip(pod.containers) {
        if slot.role.is_none() {
            slot.role = Some(settings.patterns.detect(input.name, input.image));
        }
    }
    overrides
}
