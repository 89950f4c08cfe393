//! The hostile-input suite: every attack the broker is known to face, each with the refusal it
//! must get. Read this table to see what is covered; each row names the test that proves it
//! (in this folder unless a path is given). Each test runs against the real peers (slapd,
//! oidc-provider, pysaml2, xmlsec1) and on SQLite and PostgreSQL where storage is involved.
//!
//! | attack | expected refusal | test |
//! |---|---|---|
//! | 100 concurrent wrong passwords for one user from one address | no more password checks than the (user, address) budget; the rest 429 or a fast 503 | `limiter::a_burst_against_one_user_gets_no_more_password_checks_than_the_budget` |
//! | 120 concurrent sign-ins for distinct users from one address | no more checks than the address budget | `limiter::a_burst_over_many_users_from_one_address_stops_at_the_address_budget` |
//! | the same burst split over two instances sharing the database | still the budget | `limiter::a_burst_split_over_two_instances_still_gets_only_the_budget`, `store::a_budget_holds_under_a_concurrent_burst_across_two_instances` |
//! | 120 concurrent argon2 checks from 120 addresses (memory exhaustion, no account needed) | memory stays within 100 MiB of idle; overflow 503 + `Retry-After` | `limiter::a_sign_in_burst_neither_exhausts_memory_nor_exceeds_the_password_check_budget` |
//! | failing on purpose to lock the break-glass admin out | the right password from another address signs in | `limiter::nobody_can_lock_the_admin_out_by_failing_on_purpose` |
//! | a distributed guesser against one user | a client that failed waits `user_backoff_secs` | `limiter::a_client_that_failed_backs_off_while_the_user_is_under_attack` |
//! | `X-Forwarded-For` from a client, or `not-an-ip <script>` through a proxy | peer or proxy address recorded | `limiter::forwarded_for_is_believed_only_from_trusted_proxies_and_only_as_an_ip` |
//! | unauthenticated OIDC sign-in starts, each writing a row | limited per address, 429 | `limiter::oidc_sign_in_starts_are_limited_per_address` |
//! | a newline, escape or bidi character in a typed username (log forging) | escaped in text and JSON logs | `limiter::a_newline_in_a_typed_username_cannot_forge_a_log_line` |
//! | an OIDC or LDAP group named like the admin group | no admin rights (403) | `sources::an_oidc_group_named_like_the_admin_group_does_not_make_an_admin`, `sources::an_ldap_group_named_like_the_admin_group_does_not_make_an_admin` |
//! | where an admin's right comes from | shown on /admin and by `user list` | `sources::a_local_grant_of_the_admin_group_makes_an_admin_and_says_so` |
//! | an API token after the LDAP group was removed, or long after the last OIDC sign-in | role gone; 401 `reauth_required` | `sources::a_token_of_an_ldap_user_loses_a_role_removed_in_the_directory`, `sources::a_token_of_an_oidc_user_is_refused_long_after_the_last_sign_in` |
//! | an unverified e-mail passing the domain gate | refused, naming `email_verified` | `sources::an_unverified_email_does_not_pass_the_domain_gate` |
//! | userinfo for another subject | refused, naming both subjects | `sources::userinfo_for_another_subject_is_refused` |
//! | ID tokens: wrong audience, bad signature, unpublished key (after a JWKS refetch), other issuer | refused with that reason, audited | `sources::an_id_token_*` |
//! | `ALICE` beside `alice`, control or bidi characters in a source's username | folded to one person; refused | `sources::usernames_from_a_source_are_folded_and_hidden_characters_refused` |
//! | `ldap://localhost.evil.example` passing as loopback | refused at start-up | `sources::lookalike_loopback_hosts_are_not_loopback` |
//! | `/readyz` as a directory-bind amplifier and error oracle | cached probe, only `degraded` | `sources::readiness_checks_do_not_bind_per_request_or_show_directory_errors` |
//! | timing an unknown LDAP user | the same binds as a wrong password | `sources::an_unknown_ldap_user_costs_the_same_binds_as_a_wrong_password` |
//! | tokens and sessions after a password change, reset, disable or group removal | revoked in the same transaction, audited | `sessions::a_password_change_*`, `sessions::an_admin_reset_*`, `sessions::disabling_a_user_*`, `sessions::removing_a_user_from_a_group_*` |
//! | a token while a password change is pending | 403 `password_change_required` | `sessions::a_token_is_refused_while_a_password_change_is_pending` |
//! | a role not granted, a token beyond its scopes, a non-admin on an admin route | 403, audited with the reason | `sessions::a_role_not_granted_*`, `sessions::a_token_used_beyond_*`, `sessions::a_non_admin_on_an_admin_route_*` |
//! | a missing, empty or wrong CSRF token on any state-changing route, the login form included | refused, nothing changed | `sessions::every_state_changing_route_refuses_a_missing_empty_or_wrong_csrf_token` |
//! | formulas behind whitespace or full-width signs in the CSV export | defused | `sessions::the_csv_export_defuses_formulas_behind_whitespace_and_full_width_signs` |
//! | a malformed path id | the error page, not raw text | `sessions::a_malformed_path_id_gets_the_error_page_not_raw_text` |
//! | features a page should never get (camera, geolocation...) | `Permissions-Policy` grants nothing | `sessions::every_response_carries_a_permissions_policy_that_grants_nothing` |
//! | a user's Region choice against an admin's pin | the pin wins, the page says so | `sessions::an_admin_region_pin_wins_over_the_users_choice` |
//! | reading the SQLite database (password hashes, audit log) as another local user | folder 0700, files 0600 | `sessions::the_sqlite_database_and_its_folder_are_private_to_the_broker` |
//! | `bob smith` (OIDC/LDAP) against local `bob-smith`; `z{email}` re-expanding | distinct SourceIdentity per person and source; one-pass templates | `saml::directory_users_cannot_take_a_local_users_source_identity` |
//! | a landing page `https://evil.example\.console.aws.amazon.com/` | refused on save and import | `saml::a_landing_page_that_hides_another_host_is_refused` |
//! | a lower-case deny pattern against `role/Landing` | denied (case-insensitive unless marked) | `saml::a_lower_case_deny_pattern_removes_a_capitalised_role` |
//! | assertions valid for the whole session | NotOnOrAfter − IssueInstant equals the setting on every path | `saml_flow::every_response_lives_exactly_the_configured_validity` |
//! | a Response signed by a key no longer in the metadata; a tampered one | refused by xmlsec1 and pysaml2, reason asserted | `saml_flow::keys_rotate_without_breaking_sign_in`, `saml::*` |
//! | the assertion sent to STS (which moto does not check) | signature, audience, Recipient verified independently | `sts::the_assertion_sent_to_sts_passes_an_independent_verifier` |

mod limiter;
mod saml;
mod sessions;
mod sources;
