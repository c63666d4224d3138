//! People for identity stories: accounts in groups, with tokens, made through the store as an
//! identity provider or directory would make them.

use super::TestApp;
use hangar::domain::{Actor, TokenId, TokenKind, UserId};
use hangar::store::{NewToken, Store};

/// Roles on `acme/*`: the group `developers` holds `developer`, `maintainers` `maintainer`.
pub fn developers_and_maintainers(config: &mut hangar::config::Config) {
    use hangar::config::RoleGrant;
    config.identity.roles = vec![
        RoleGrant {
            group: "developers".into(),
            role: "developer".into(),
            repos: vec!["acme/*".into()],
        },
        RoleGrant {
            group: "maintainers".into(),
            role: "maintainer".into(),
            repos: vec!["acme/*".into()],
        },
    ];
}

/// An account and a token of theirs.
pub struct Person {
    pub login: String,
    pub id: UserId,
    pub token: String,
    pub token_id: TokenId,
}

/// The test server's store, opened beside it.
pub async fn store(app: &TestApp) -> Store {
    Store::connect(&app.database.url(app.data.path()))
        .await
        .expect("the test store opens")
}

/// An account `login` in `groups` with a token that expires at `expires` (Unix ms; 0 = never).
pub async fn person(app: &TestApp, login: &str, groups: &[&str], expires: i64) -> Person {
    let store = store(app).await;
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    let user = store
        .create_machine_user(login, &groups, &Actor::system(), 1)
        .await
        .expect("user created");
    let minted = hangar::auth::token::mint_token(hangar::auth::token::Format::Personal);
    let token = store
        .create_token(
            &Actor::system(),
            &user,
            &NewToken {
                name: "test".into(),
                kind: TokenKind::Personal,
                hash: minted.hash.clone(),
                prefix: minted.prefix.clone(),
                scopes: None,
                expires,
                replace_same_name: false,
            },
            1,
        )
        .await
        .expect("token created");
    store.close().await;
    Person {
        login: login.into(),
        id: user.id,
        token: minted.secret.expose().to_string(),
        token_id: token.id,
    }
}
