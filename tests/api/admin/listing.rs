//! Listing users: pages, cursors, search and filters.

use super::*;

#[tokio::test]
async fn users_are_listed_newest_first_and_cursor_pages_walk_every_user_once() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let mut created = vec![admin.id.clone()];
    for _ in 0..7 {
        created.push(plain_user(&app).await);
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    // Act
    let all = list(&app, &admin.access, "limit=100").await;
    let (walked, sizes) = walk(&app, &admin.access, ADMIN_USERS, "users", 3).await;
    let exact = list(&app, &admin.access, "limit=8").await;

    // Assert
    assert_eq!(user_ids(&all), newest_first, "newest first");
    assert!(all["next_cursor"].is_null(), "one page holds everyone: {all}");
    let times: Vec<_> = all["users"].as_array().expect("users").iter().map(|u| time(&u["created_at"])).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "created_at descends: {all}");
    assert_eq!(sizes, [3, 3, 2], "pages of 3");
    assert_eq!(walked, newest_first, "the pages hold every user once, in order");
    assert_eq!(user_ids(&exact), newest_first);
    assert!(exact["next_cursor"].is_null(), "no page follows a full last page: {exact}");
}

#[tokio::test]
async fn the_default_page_holds_twenty_users_and_limit_goes_from_1_to_100() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    for _ in 0..21 {
        plain_user(&app).await;
    }

    // Act
    let default = list(&app, &admin.access, "").await;
    let one = list(&app, &admin.access, "limit=1").await;
    let hundred = list(&app, &admin.access, "limit=100").await;

    // Assert
    assert_eq!(user_ids(&default).len(), 20, "default limit");
    assert!(default["next_cursor"].is_string(), "more follow: {default}");
    let rest = list(&app, &admin.access, &format!("cursor={}", enc(&text(&default["next_cursor"])))).await;
    assert_eq!(user_ids(&rest).len(), 2, "the second default page: {rest}");
    assert!(rest["next_cursor"].is_null(), "{rest}");
    assert_eq!(user_ids(&one).len(), 1);
    assert!(one["next_cursor"].is_string(), "{one}");
    assert_eq!(user_ids(&hundred).len(), 22);
    assert!(hundred["next_cursor"].is_null(), "{hundred}");
}

#[tokio::test]
async fn a_limit_outside_1_to_100_or_not_a_number_is_a_400_on_limit() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;

    for limit in ["0", "101", "abc", "-1", "1.5", "99999999999999999999", "1e2"] {
        // Act
        let users = app.get(&format!("{ADMIN_USERS}?limit={limit}"), Some(&admin.access)).await;
        let events = app.get(&format!("{ADMIN_AUDIT}?limit={limit}"), Some(&admin.access)).await;

        // Assert
        assert_field_error(&users, "limit");
        assert_field_error(&events, "limit");
    }
}

#[tokio::test]
async fn a_bad_cursor_is_a_400_on_cursor() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let cursors = [
        "junk!".to_string(),
        "%FF%FE".to_string(),
        b64("no colon here"),
        b64("123:not-a-uuid"),
        b64(&format!("soon:{}", uuid::Uuid::now_v7())),
        enc("===="),
    ];

    for cursor in cursors {
        // Act
        let users = app.get(&format!("{ADMIN_USERS}?cursor={cursor}"), Some(&admin.access)).await;
        let events = app.get(&format!("{ADMIN_AUDIT}?cursor={cursor}"), Some(&admin.access)).await;

        // Assert
        assert_field_error(&users, "cursor");
        assert_field_error(&events, "cursor");
    }
}

#[tokio::test]
async fn q_searches_email_phone_and_names_ignoring_case() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let zed =
        text(&register_with(&app, json!({"email": "Zed.Upper@Example.com", "first_name": "Ana"})).await["user"]["id"]);
    let phoned =
        text(&register_with(&app, json!({"phone": "+447911123456", "first_name": "Paula"})).await["user"]["id"]);
    let named = text(
        &register_with(&app, json!({"email": unique_email(), "first_name": "Bartholomew", "last_name": "Quixote"}))
            .await["user"]["id"],
    );
    let cases: [(&str, Vec<&String>); 11] = [
        ("zed.upper", vec![&zed]),
        ("ZED.UPPER@EXAMPLE.COM", vec![&zed]),
        ("  zed  ", vec![&zed]),
        ("7911123", vec![&phoned]),
        ("+447911", vec![&phoned]),
        ("paula", vec![&phoned]),
        ("BARTHOL", vec![&named]),
        ("xot", vec![&named]),
        ("nobody-is-called-this", vec![]),
        ("%", vec![]),
        ("_", vec![]),
    ];

    for (q, expected) in cases {
        // Act
        let found = matching(&app, &admin.access, &format!("q={}", enc(q))).await;

        // Assert
        assert_eq!(found, sorted(&expected), "q={q:?}");
    }
}

#[tokio::test]
async fn q_finds_names_with_non_ascii_capitals_as_typed_and_in_any_case() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let body = json!({"email": unique_email(), "first_name": "Łukasz", "last_name": "Émile-Øberg"});
    let named = text(&register_with(&app, body).await["user"]["id"]);

    let queries = ["Łukasz", "łukasz", "ŁUKASZ", "Émile", "émile", "øberg", "ØBERG", "ukasz"];

    // Act
    let mut missed = Vec::new();
    for q in queries {
        let found = matching(&app, &admin.access, &format!("q={}", enc(q))).await;
        if found != [named.clone()] {
            missed.push(q);
        }
    }

    // Assert
    assert!(missed.is_empty(), "q found no user named Łukasz Émile-Øberg for {missed:?}");
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    // Arrange
    let app = spawn_app().await;
    let a = member(&app, "admin").await;
    let b = member(&app, "admin").await;
    let demote = json!({"role": "client"});
    let (path_a, path_b) = (user_path(&a.id), user_path(&b.id));

    // Act
    let (ra, rb) =
        tokio::join!(app.patch(&path_b, Some(&a.access), &demote), app.patch(&path_a, Some(&b.access), &demote));

    // Assert
    // The loser is refused either as no longer an admin (403) or by the
    // last-admin rule (400), depending on which check the race reaches.
    let winners = [&ra, &rb].iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(winners, 1, "exactly one demotion succeeds: {} / {}", ra.body, rb.body);
    for r in [&ra, &rb] {
        let refused = [StatusCode::OK, StatusCode::BAD_REQUEST, StatusCode::FORBIDDEN];
        assert!(refused.contains(&r.status), "{}", r.body);
    }
    for r in [&ra, &rb] {
        assert_envelope(&r.body, r.status.is_success());
    }
    let survivor = if ra.status == StatusCode::OK { &a } else { &b };
    let admins = list(&app, &survivor.access, "role=admin").await;
    assert_eq!(user_ids(&admins), std::slice::from_ref(&survivor.id), "exactly one admin is left");
}

#[tokio::test]
async fn users_filter_by_role_activity_and_verification() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let plain = plain_user(&app).await;
    let vendor = text(
        &register_with(&app, json!({"email": unique_email(), "first_name": "Vic", "role": "vendor"})).await["user"]["id"],
    );
    let inactive = plain_user(&app).await;
    app.deactivate(&inactive).await;
    let verified_email = unique_email();
    let data = app.register(Some(&verified_email), None, PASSWORD).await;
    let verified = text(&data["user"]["id"]);
    let r = app.post(VERIFY_OTP, &json!({"email_or_phone": verified_email, "otp": data["otp"]})).await;
    assert_status(&r, StatusCode::OK, "verify");
    let everyone = [&admin.id, &plain, &vendor, &inactive, &verified];
    let but = |skip: &[&String]| sorted(&everyone.iter().copied().filter(|id| !skip.contains(id)).collect::<Vec<_>>());
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("role=vendor", sorted(&[&vendor])),
        ("role=admin", sorted(&[&admin.id])),
        ("role=staff", vec![]),
        ("role=client", but(&[&vendor, &admin.id])),
        ("is_active=false", sorted(&[&inactive])),
        ("is_active=true", but(&[&inactive])),
        ("is_verified=true", sorted(&[&verified])),
        ("is_verified=false", but(&[&verified])),
        ("role=client&is_active=true&is_verified=false", sorted(&[&plain])),
    ];

    for (query, expected) in cases {
        // Act
        let found = matching(&app, &admin.access, query).await;

        // Assert
        assert_eq!(found, expected, "{query}");
    }
}

#[tokio::test]
async fn an_unknown_role_or_a_bad_boolean_is_a_400_on_that_filter() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let cases = [
        ("role=boss", "role"),
        ("role=%00", "role"),
        ("is_active=yes", "is_active"),
        ("is_active=2", "is_active"),
        ("is_verified=maybe", "is_verified"),
        ("deleted=perhaps", "deleted"),
    ];

    for (query, field) in cases {
        // Act
        let r = app.get(&format!("{ADMIN_USERS}?{query}"), Some(&admin.access)).await;

        // Assert
        assert_field_error(&r, field);
    }
}

#[tokio::test]
async fn deleted_true_lists_only_soft_deleted_users_with_deleted_at() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let kept = plain_user(&app).await;
    let gone = plain_user(&app).await;
    ok_data(&app.delete(&user_path(&gone), Some(&admin.access)).await, "delete");

    // Act
    let deleted = list(&app, &admin.access, "deleted=true").await;
    let live = list(&app, &admin.access, "").await;
    let not_deleted = list(&app, &admin.access, "deleted=false").await;

    // Assert
    assert_eq!(user_ids(&deleted), std::slice::from_ref(&gone));
    assert!(deleted["users"][0]["deleted_at"].is_string(), "{deleted}");
    time(&deleted["users"][0]["deleted_at"]);
    assert_eq!(user_ids(&live), [kept.clone(), admin.id.clone()], "deleted users are left out by default");
    assert_eq!(user_ids(&not_deleted), [kept, admin.id.clone()]);
    for u in live["users"].as_array().expect("users") {
        assert!(u.get("deleted_at").is_none(), "{u}");
    }
}
