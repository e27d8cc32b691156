//! Bytes -> `Webhook::review`: decode, plan, patch, encode. Never panics; an allowed
//! answer's patch applies to the submitted object and the result passes the API
//! server's rules (`tests/api_rules`), and is a fixpoint.
#![no_main]

use std::sync::{Arc, LazyLock};

use lameduck::cluster::ClusterState;
use lameduck::plan::{ActionSetting, HookAction, Settings};
use lameduck::scope::Mode;
use lameduck::webhook::Webhook;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/api_rules/mod.rs"]
mod api_rules;

fn webhook(action: ActionSetting) -> Webhook {
    let settings = Settings {
        action,
        ..Settings::default()
    };
    Webhook::new(settings, Mode::Cluster, Arc::new(ClusterState::standalone()))
}

static AUTO: LazyLock<Webhook> = LazyLock::new(|| webhook(ActionSetting::Auto));
static EXEC: LazyLock<Webhook> =
    LazyLock::new(|| webhook(ActionSetting::Fixed(HookAction::Exec)));

fuzz_target!(|data: &[u8]| {
    // Both hook actions, chosen by something the mutator varies without breaking JSON.
    let webhook: &Webhook = if data.len() % 2 == 0 { &AUTO } else { &EXEC };
    if let Err(violation) = api_rules::check_review(webhook, data) {
        panic!("{violation}");
    }
});
