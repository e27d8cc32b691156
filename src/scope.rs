//! Which namespaces lameduck mutates. The webhook decides it on every review and the
//! audit decides it again for what is already running; both read it here so that the
//! two can never disagree, and neither reaches into the other for it.

/// Which namespaces the webhook mutates, checked again on every review so that a webhook
/// configuration with a wrong `namespaceSelector` cannot inject where it should not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every namespace not labelled `lameduck.dev/inject=disabled`.
    #[default]
    Cluster,
    /// Only namespaces labelled `lameduck.dev/inject=enabled`.
    Namespace,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "cluster" => Ok(Mode::Cluster),
            "namespace" => Ok(Mode::Namespace),
            other => Err(format!("{other:?} is not one of cluster, namespace")),
        }
    }
}

impl Mode {
    /// Whether a namespace with this label is mutated.
    pub fn admits(self, label: NamespaceInjection) -> bool {
        match (label, self) {
            (NamespaceInjection::Disabled, _) => false,
            (NamespaceInjection::Enabled, _) | (_, Mode::Cluster) => true,
            (NamespaceInjection::Unlabelled, Mode::Namespace) => false,
        }
    }
}

/// A namespace's say in injection, from its `lameduck.dev/inject` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceInjection {
    Unlabelled,
    Enabled,
    Disabled,
}
