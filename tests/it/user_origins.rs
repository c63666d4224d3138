//! How each user came to the server, as the admin page lists it: provisioned over SCIM (and
//! later deleted there), a local account of the embedded provider, a service account, or a
//! person an administrator made. Told once, run on SQLite and (when configured) PostgreSQL.
//! Users made just in time at a login are in `web::admin_pages`, through the real provider.

use crate::support::database::TestDatabase;
use hangar::domain::Actor;
use hangar::store::{NewLocalUser, NewUser, ScimUserWrite, Store, UserOrigin};

const NOW: i64 = 1_700_000_000_000;

async fn each_user_says_how_they_came(database: TestDatabase) {
    let data = tempfile::tempdir().expect("temporary folder");
    let store = Store::open(&database.url(data.path()))
        .await
        .expect("the store opens");
    let admin = Actor::system();
    let write = |name: &str| ScimUserWrite {
        user_name: name.into(),
        external_id: None,
        display_name: name.into(),
        email: format!("{name}@example.com"),
        active: true,
        resource: "{}".into(),
    };
    let carol = store
        .create_scim_user(&admin, "scim-carol", &write("carol"), NOW)
        .await
        .expect("provisioned");
    let dave = store
        .create_scim_user(&admin, "scim-dave", &write("dave"), NOW)
        .await
        .expect("provisioned");
    store
        .delete_scim_user(&admin, "scim-dave", &Default::default(), NOW)
        .await
        .expect("deleted")
        .expect("dave was there");
    let erin = store
        .create_local_user(
            &NewLocalUser {
                login: "erin",
                display_name: "Erin",
                email: "erin@example.com",
                groups: &[],
                password_hash: "$argon2id$not-checked-here",
                iss: "https://hangar.test/oidc",
                sub: "erin-sub",
            },
            &admin,
            NOW,
        )
        .await
        .expect("local");
    let new = |login: &str, machine: bool| NewUser {
        login: login.into(),
        email: String::new(),
        machine,
        admin: false,
    };
    let (robot, _) = store
        .create_user(&admin, &new("deploy-bot", true), None, NOW)
        .await
        .expect("service account");
    let (frank, _) = store
        .create_user(&admin, &new("frank", false), None, NOW)
        .await
        .expect("person");
    let origins = store.list_user_origins().await.expect("origins");
    let of = |id| {
        origins
            .iter()
            .find(|(u, _)| *u == id)
            .map(|(_, o)| *o)
            .unwrap_or_else(|| panic!("user {id} listed: {origins:?}"))
    };
    assert_eq!(of(carol.user.id), UserOrigin::Scim { deleted: false });
    assert_eq!(of(dave.user.id), UserOrigin::Scim { deleted: true });
    assert_eq!(of(erin), UserOrigin::Local);
    assert_eq!(of(robot.id), UserOrigin::Service);
    assert_eq!(of(frank.id), UserOrigin::Created);
    assert_eq!(of(frank.id).label(), "created by an administrator");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_says_how_they_came_on_sqlite() {
    each_user_says_how_they_came(TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_says_how_they_came_on_postgres() {
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    each_user_says_how_they_came(database).await;
}
