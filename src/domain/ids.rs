//! Typed ids, so a build id can never be passed where a stage id is meant.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// A repository's database id.
    RepoId
);
id!(
    /// A build's database id (not its per-repository number).
    BuildId
);
id!(
    /// A stage's database id: one `kind: pipeline` document of a build.
    StageId
);
id!(
    /// A step's database id.
    StepId
);
id!(
    /// A remote runner's database id (0: the in-process runner).
    RunnerId
);
id!(
    /// A user's (person or machine account) database id.
    UserId
);
id!(
    /// An API token's database id.
    TokenId
);
id!(
    /// A browser session's database id (never its cookie value).
    SessionId
);
