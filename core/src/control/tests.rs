use super::commands::*;
use super::*;
use crate::access::credentials::RANDOM_BYTES;
use crate::channel::{EndpointType, Protocol};

fn ids() -> impl FnMut() -> Id {
    let mut n = 0u8;
    move || {
        n += 1;
        Id::from_random([n; 14])
    }
}

fn create(
    st: &mut ControlState,
    name: &str,
    gen: &mut dyn FnMut() -> Id,
) -> Result<Id, ControlError> {
    let req = ChannelCreate {
        name: name.into(),
        protocol: Protocol::Hls,
        ..Default::default()
    };
    st.create_channel(&req, gen).map(|c| c.id)
}

#[test]
fn configured_limits_are_enforced_and_not_persisted() {
    let mut st = ControlState::new();
    st.limits = StateLimits {
        max_channels: 2,
        max_endpoints_per_channel: 1,
    };
    let mut gen = ids();
    let a = create(&mut st, "a", &mut gen).unwrap();
    create(&mut st, "b", &mut gen).unwrap();
    let e = create(&mut st, "c", &mut gen).unwrap_err();
    assert!(
        matches!(&e, ControlError::Limit(m) if m.contains("at most 2 channels")),
        "{e:?}"
    );
    let ep = EndpointCreate {
        name: "x".into(),
        ..Default::default()
    };
    st.create_endpoint(&a.to_string(), &ep, &mut gen).unwrap();
    let ep2 = EndpointCreate {
        name: "y".into(),
        ..Default::default()
    };
    let e = st
        .create_endpoint(&a.to_string(), &ep2, &mut gen)
        .unwrap_err();
    assert!(matches!(e, ControlError::Limit(_)), "{e:?}");
    let back = ControlState::from_json(&st.to_json().unwrap()).unwrap();
    assert_eq!(
        back.limits,
        StateLimits::default(),
        "limits come from the config"
    );
    assert_eq!(back.channels, st.channels);
}

#[test]
fn create_applies_defaults_and_generates_two_inputs() {
    let mut st = ControlState::new();
    let mut gen = ids();
    let id = create(&mut st, "news", &mut gen).unwrap();
    let c = st.channel("news").unwrap();
    assert_eq!(c.id, id);
    assert_eq!((c.max_segment_duration, c.max_playlist_duration), (15, 600));
    assert_eq!(c.inputs[0].role, InputRole::Primary);
    assert_eq!(c.inputs[1].role, InputRole::Backup);
    assert_ne!(c.inputs[0].id, c.inputs[1].id);
    assert_eq!(st.channel(id.as_str()).unwrap().name, "news");
}

#[test]
fn names_are_unique() {
    let mut st = ControlState::new();
    let mut gen = ids();
    create(&mut st, "a", &mut gen).unwrap();
    let e = create(&mut st, "a", &mut gen).unwrap_err();
    assert!(matches!(e, ControlError::Conflict(_)), "{e}");
    create(&mut st, "b", &mut gen).unwrap();
    let e = st
        .edit_channel(
            "b",
            &ChannelPatch {
                name: Some("a".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, ControlError::Conflict(_)));
}

#[test]
fn fresh_ids_skip_taken_ones() {
    let mut st = ControlState::new();
    let mut seq = [1u8, 1, 1, 2, 2, 3, 1, 2, 3, 4].into_iter();
    let mut gen = move || Id::from_random([seq.next().unwrap_or(99); 14]);
    create(&mut st, "a", &mut gen).unwrap();
    let c = st.channel("a").unwrap();
    assert_eq!(
        [c.id, c.inputs[0].id, c.inputs[1].id],
        [1, 2, 3].map(|n| Id::from_random([n; 14]))
    );
    let req = EndpointCreate {
        name: "e".into(),
        ..Default::default()
    };
    let (_, ep) = st.create_endpoint("a", &req, &mut gen).unwrap();
    assert_eq!(ep.id, Id::from_random([4; 14]));
}

#[test]
fn edit_validates_the_combination() {
    let mut st = ControlState::new();
    let mut gen = ids();
    create(&mut st, "a", &mut gen).unwrap();
    let e = st
        .edit_channel(
            "a",
            &ChannelPatch {
                max_segment_duration: Some(30),
                max_playlist_duration: Some(60),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, ControlError::Invalid(_)), "{e}");
    assert_eq!(
        st.channel("a").unwrap().max_segment_duration,
        15,
        "refused edit left state alone"
    );
    st.edit_channel(
        "a",
        &ChannelPatch {
            max_playlist_duration: Some(60),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(st.channel("a").unwrap().max_playlist_duration, 60);
}

#[test]
fn channel_with_endpoints_cannot_be_deleted_and_error_names_them() {
    let mut st = ControlState::new();
    let mut gen = ids();
    create(&mut st, "a", &mut gen).unwrap();
    let req = EndpointCreate {
        name: "web".into(),
        ..Default::default()
    };
    let (_, ep) = st.create_endpoint("a", &req, &mut gen).unwrap();
    assert_eq!(ep.kind, EndpointType::Hls);
    assert_eq!(ep.manifest_name, "main");
    let e = st.delete_channel("a").unwrap_err();
    assert!(matches!(e, ControlError::Conflict(_)));
    let msg = e.to_string();
    assert!(msg.contains("still has an endpoint: web ("), "{msg}");
    assert!(msg.ends_with("; delete it first"), "{msg}");
    let req2 = EndpointCreate {
        name: "cdn".into(),
        ..Default::default()
    };
    st.create_endpoint("a", &req2, &mut gen).unwrap();
    let msg = st.delete_channel("a").unwrap_err().to_string();
    assert!(msg.contains("still has 2 endpoints: web ("), "{msg}");
    assert!(msg.ends_with("; delete them first"), "{msg}");
    st.delete_endpoint("a", "cdn").unwrap();
    st.delete_endpoint("a", "web").unwrap();
    st.delete_channel("a").unwrap();
    assert!(matches!(st.channel("a"), Err(ControlError::NotFound(_))));
}

#[test]
fn endpoint_rules() {
    let mut st = ControlState::new();
    let mut gen = ids();
    create(&mut st, "a", &mut gen).unwrap();
    let req = EndpointCreate {
        name: "web".into(),
        ..Default::default()
    };
    st.create_endpoint("a", &req, &mut gen).unwrap();
    assert!(matches!(
        st.create_endpoint("a", &req, &mut gen),
        Err(ControlError::Conflict(_))
    ));
    let dash = EndpointCreate {
        name: "d".into(),
        kind: Some(EndpointType::Dash),
        ..Default::default()
    };
    assert!(matches!(
        st.create_endpoint("a", &dash, &mut gen),
        Err(ControlError::Invalid(_))
    ));
    let bad = EndpointCreate {
        name: "x".into(),
        manifest_name: Some("a.b".into()),
        ..Default::default()
    };
    assert!(matches!(
        st.create_endpoint("a", &bad, &mut gen),
        Err(ControlError::Invalid(_))
    ));
    let (_, ep) = st
        .edit_endpoint(
            "a",
            "web",
            &EndpointPatch {
                manifest_name: Some("index".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(ep.manifest_file(), "index.m3u8");
    assert!(matches!(
        st.endpoint("a", "nope"),
        Err(ControlError::NotFound(_))
    ));
}

#[test]
fn json_round_trip_and_corruption_is_an_error() {
    let mut st = ControlState::new();
    let mut gen = ids();
    create(&mut st, "a", &mut gen).unwrap();
    st.create_endpoint(
        "a",
        &EndpointCreate {
            name: "web".into(),
            ..Default::default()
        },
        &mut gen,
    )
    .unwrap();
    let bytes = st.to_json().unwrap();
    assert_eq!(ControlState::from_json(&bytes).unwrap(), st);
    assert!(matches!(
        ControlState::from_json(&bytes[..bytes.len() / 2]),
        Err(LoadError::Corrupt(_))
    ));
    assert!(matches!(
        ControlState::from_json(b"{\"format\":99,\"channels\":[]}"),
        Err(LoadError::Format(99))
    ));
    let mut dup = st.clone();
    dup.channels.push(st.channels[0].clone());
    assert!(matches!(
        ControlState::from_json(&dup.to_json().unwrap()),
        Err(LoadError::Inconsistent(_))
    ));
}

#[test]
fn input_auth_enable_rotate_disable_persist() {
    let mut st = ControlState::new();
    let mut gen = ids();
    create(&mut st, "a", &mut gen).unwrap();
    let mut n = 0u8;
    let mut rnd = || {
        n += 1;
        [n; RANDOM_BYTES]
    };
    let e = st
        .input_auth(
            "a",
            "1",
            InputAuthAction::Rotate { grace_secs: 0 },
            0,
            &mut rnd,
        )
        .unwrap_err();
    assert!(e.to_string().contains("input auth enable"), "{e}");
    let c = st
        .input_auth("a", "primary", InputAuthAction::Enable, 0, &mut rnd)
        .unwrap();
    let first = c.inputs[0].auth.clone().unwrap();
    assert!(c.inputs[1].auth.is_none());
    // Enabling again keeps what encoders were given.
    let c = st
        .input_auth("a", "1", InputAuthAction::Enable, 0, &mut rnd)
        .unwrap();
    assert_eq!(c.inputs[0].auth.as_ref(), Some(&first));
    let c = st
        .input_auth(
            "a",
            "1",
            InputAuthAction::Rotate { grace_secs: 30 },
            5_000,
            &mut rnd,
        )
        .unwrap();
    let second = c.inputs[0].auth.clone().unwrap();
    assert_ne!(second.password, first.password);
    assert_eq!(
        second.previous.as_ref().unwrap().valid_until_unix_ms,
        35_000
    );
    let back = ControlState::from_json(&st.to_json().unwrap()).unwrap();
    assert_eq!(back.channels[0].inputs[0].auth.as_ref(), Some(&second));
    let backup_id = st.channels[0].inputs[1].id.to_string();
    st.input_auth("a", &backup_id, InputAuthAction::Enable, 0, &mut rnd)
        .unwrap();
    assert!(st.channels[0].inputs[1].auth.is_some());
    st.input_auth("a", "1", InputAuthAction::Disable, 0, &mut rnd)
        .unwrap();
    assert!(st.channels[0].inputs[0].auth.is_none());
    let e = st
        .input_auth("a", "3", InputAuthAction::Enable, 0, &mut rnd)
        .unwrap_err();
    assert!(matches!(e, ControlError::NotFound(_)), "{e:?}");
    let e = st
        .input_auth(
            "a",
            "1",
            InputAuthAction::Rotate {
                grace_secs: u32::MAX,
            },
            0,
            &mut rnd,
        )
        .unwrap_err();
    assert!(matches!(e, ControlError::Invalid(_)), "{e:?}");
}

#[test]
fn endpoint_access_lists_are_validated_and_replaced_on_edit() {
    let mut st = ControlState::new();
    let mut gen = ids();
    create(&mut st, "a", &mut gen).unwrap();
    let bad = EndpointCreate {
        name: "web".into(),
        allow: vec!["10.0.0.0/8".into(), "10.0.0.0/40".into()],
        ..Default::default()
    };
    let e = st.create_endpoint("a", &bad, &mut gen).unwrap_err();
    assert!(
        e.to_string().contains("--allow") && e.to_string().contains("10.0.0.0/40"),
        "{e}"
    );
    let req = EndpointCreate {
        name: "web".into(),
        allow: vec!["127.0.0.1".into(), "::1".into()],
        block: vec!["192.0.2.0/24".into()],
        auth_keys: vec!["key-one-1".into(), "key-two-2".into()],
        ..Default::default()
    };
    let (_, e) = st.create_endpoint("a", &req, &mut gen).unwrap();
    assert_eq!(e.allow.len(), 2);
    assert_eq!(e.auth_keys.len(), 2);
    let patch = EndpointPatch {
        allow: Some(vec![]),
        auth_keys: Some(vec!["key-three".into()]),
        ..Default::default()
    };
    let (_, e) = st.edit_endpoint("a", "web", &patch).unwrap();
    assert!(e.allow.is_empty());
    assert_eq!(e.block.len(), 1, "untouched");
    assert_eq!(e.auth_keys, vec!["key-three".to_string()]);
    let patch = EndpointPatch {
        auth_keys: Some(vec!["short".into()]),
        ..Default::default()
    };
    let e = st.edit_endpoint("a", "web", &patch).unwrap_err();
    assert!(e.to_string().contains("--auth-key"), "{e}");
    let back = ControlState::from_json(&st.to_json().unwrap()).unwrap();
    assert_eq!(back.channels, st.channels);
}

#[test]
fn cdn_domains_belong_to_one_channel() {
    let mut st = ControlState::new();
    let mut gen = ids();
    create(&mut st, "a", &mut gen).unwrap();
    create(&mut st, "b", &mut gen).unwrap();
    let c = st.cdn_bind("a", "Live.Example.com.").unwrap();
    assert_eq!(c.cdn_domains, vec!["live.example.com".to_string()]);
    st.cdn_bind("a", "live.example.com").unwrap();
    assert_eq!(st.channels[0].cdn_domains.len(), 1, "idempotent");
    let e = st.cdn_bind("b", "live.example.com").unwrap_err();
    assert!(
        matches!(&e, ControlError::Conflict(m) if m.contains("channel \"a\"")),
        "{e:?}"
    );
    let e = st.cdn_bind("b", "http://x.example/").unwrap_err();
    assert!(matches!(e, ControlError::Invalid(_)), "{e:?}");
    let back = ControlState::from_json(&st.to_json().unwrap()).unwrap();
    assert_eq!(back.channels, st.channels);
    let mut dup = st.clone();
    dup.channels[1].cdn_domains.push("live.example.com".into());
    assert!(matches!(
        ControlState::from_json(&dup.to_json().unwrap()),
        Err(LoadError::Inconsistent(_))
    ));
    st.cdn_unbind("a", "live.example.com").unwrap();
    assert!(matches!(
        st.cdn_unbind("a", "live.example.com"),
        Err(ControlError::NotFound(_))
    ));
    st.cdn_bind("b", "live.example.com").unwrap();
}

#[test]
fn ttls_are_validated() {
    let mut st = ControlState::new();
    let mut gen = ids();
    let req = ChannelCreate {
        name: "t".into(),
        manifest_ttl: Some(61),
        ..Default::default()
    };
    let e = st.create_channel(&req, &mut gen).unwrap_err();
    assert!(e.to_string().contains("1-60"), "{e}");
    let req = ChannelCreate {
        name: "t".into(),
        manifest_ttl: Some(2),
        segment_ttl: Some(1800),
        ..Default::default()
    };
    st.create_channel(&req, &mut gen).unwrap();
    let patch = ChannelPatch {
        segment_ttl: Some(9),
        ..Default::default()
    };
    let e = st.edit_channel("t", &patch).unwrap_err();
    assert!(e.to_string().contains("10-1800"), "{e}");
    let patch = ChannelPatch {
        segment_ttl: Some(30),
        ..Default::default()
    };
    let c = st.edit_channel("t", &patch).unwrap();
    assert_eq!((c.manifest_ttl, c.segment_ttl), (Some(2), Some(30)));
}

#[test]
fn timeshift_window_is_validated_on_create() {
    let table: &[(Option<u64>, Result<u64, &str>)] = &[
        (None, Ok(0)),
        (Some(0), Ok(0)),
        (Some(3600), Ok(3600)),
        (Some(1_209_600), Ok(1_209_600)),
        (
            Some(1_209_601),
            Err("timeshift window 1209601 s is longer than 14 days (1209600 s)"),
        ),
        (Some(u64::MAX), Err("is longer than 14 days")),
    ];
    for (i, (window, want)) in table.iter().enumerate() {
        let mut st = ControlState::new();
        let mut gen = ids();
        let req = ChannelCreate {
            name: format!("t{i}"),
            timeshift_window_secs: *window,
            ..Default::default()
        };
        match (st.create_channel(&req, &mut gen), want) {
            (Ok(c), Ok(secs)) => assert_eq!(c.timeshift_window_secs, *secs, "{window:?}"),
            (Err(ControlError::Invalid(m)), Err(msg)) => {
                assert!(m.contains(msg), "{window:?}: {m}");
                assert!(
                    st.channels.is_empty(),
                    "{window:?}: refused create added a channel"
                );
            }
            (got, _) => panic!("{window:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn timeshift_window_is_validated_on_edit_and_keeps_other_settings() {
    let mut st = ControlState::new();
    let mut gen = ids();
    let req = ChannelCreate {
        name: "t".into(),
        max_segment_duration: Some(6),
        max_playlist_duration: Some(120),
        description: Some("studio".into()),
        manifest_ttl: Some(2),
        segment_ttl: Some(900),
        end_on_endlist: Some(true),
        ..Default::default()
    };
    let before = st.create_channel(&req, &mut gen).unwrap().clone();
    assert_eq!(before.timeshift_window_secs, 0, "off by default");
    let table: &[(u64, bool)] = &[
        (3600, true),
        (1_209_600, true),
        (1_209_601, false),
        (0, true),
    ];
    let mut want = 0;
    for &(window, ok) in table {
        let patch = ChannelPatch {
            timeshift_window_secs: Some(window),
            ..Default::default()
        };
        match st.edit_channel("t", &patch) {
            Ok(_) if ok => want = window,
            Err(ControlError::Invalid(m)) if !ok => {
                assert!(m.contains(&format!("timeshift window {window} s")), "{m}");
                assert!(m.contains("14 days (1209600 s)"), "{m}");
            }
            got => panic!("{window}: got {got:?}"),
        }
        let c = st.channel("t").unwrap();
        assert_eq!(c.timeshift_window_secs, want, "{window}");
        let others = ChannelConfig {
            timeshift_window_secs: before.timeshift_window_secs,
            ..c.clone()
        };
        assert_eq!(others, before, "{window}: other settings kept");
    }
    // An edit of another setting leaves the window alone.
    st.edit_channel(
        "t",
        &ChannelPatch {
            timeshift_window_secs: Some(7200),
            ..Default::default()
        },
    )
    .unwrap();
    let c = st
        .edit_channel(
            "t",
            &ChannelPatch {
                description: Some("other".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(c.timeshift_window_secs, 7200);
    let back = ControlState::from_json(&st.to_json().unwrap()).unwrap();
    assert_eq!(back.channels, st.channels, "persisted");
}

#[test]
fn encryption_fits_the_endpoint_type_and_its_other_settings() {
    use crate::channel::Encryption;
    let mut st = ControlState::new();
    let mut gen = ids();
    create(&mut st, "c", &mut gen).unwrap();
    let table: &[(EndpointType, Encryption, u32, Option<&str>)] = &[
        (EndpointType::Hls, Encryption::None, 0, None),
        (EndpointType::Hls, Encryption::Aes128, 0, None),
        (EndpointType::Hls, Encryption::Aes128, 604_800, None),
        (
            EndpointType::Hls,
            Encryption::Aes128,
            604_801,
            Some("--key-rotation must be"),
        ),
        (
            EndpointType::Hls,
            Encryption::None,
            10,
            Some("needs an encrypted endpoint"),
        ),
        (
            EndpointType::Cmaf,
            Encryption::Aes128,
            0,
            Some("for hls endpoints"),
        ),
        (EndpointType::Hls, Encryption::SampleAes, 60, None),
        (
            EndpointType::Cmaf,
            Encryption::SampleAes,
            0,
            Some("encrypts TS segments: it is for hls endpoints"),
        ),
        (EndpointType::Cmaf, Encryption::Cenc, 0, None),
        (
            EndpointType::Hls,
            Encryption::Aes128,
            14,
            Some("shorter than the channel's longest segment"),
        ),
        (EndpointType::Cmaf, Encryption::Cbcs, 0, None),
        (EndpointType::Cmaf, Encryption::Cbcs, 60, None),
        (
            EndpointType::Hls,
            Encryption::Cenc,
            0,
            Some("for cmaf endpoints"),
        ),
    ];
    for (i, (kind, encryption, rotation, refused)) in table.iter().enumerate() {
        let req = EndpointCreate {
            name: format!("e{i}"),
            kind: Some(*kind),
            encryption: *encryption,
            key_rotation_secs: *rotation,
            ..Default::default()
        };
        match (st.create_endpoint("c", &req, &mut gen), refused) {
            (Ok((_, e)), None) => {
                assert_eq!(
                    (e.encryption, e.key_rotation_secs),
                    (*encryption, *rotation)
                )
            }
            (Err(ControlError::Invalid(m)), Some(why)) => assert!(m.contains(why), "{m}"),
            (got, want) => panic!("row {i}: {got:?}, wanted refusal {want:?}"),
        }
    }
    // Edits: turning encryption off clears the rotation; rotation alone needs encryption.
    let off = EndpointPatch {
        encryption: Some(Encryption::None),
        ..Default::default()
    };
    let (_, e) = st.edit_endpoint("c", "e2", &off).unwrap();
    assert_eq!((e.encryption, e.key_rotation_secs), (Encryption::None, 0));
    let rotate = EndpointPatch {
        key_rotation_secs: Some(60),
        ..Default::default()
    };
    assert!(st.edit_endpoint("c", "e2", &rotate).is_err());
    let low_latency = EndpointPatch {
        low_latency: Some(true),
        ..Default::default()
    };
    assert!(st.edit_endpoint("c", "e1", &low_latency).is_err());
}
