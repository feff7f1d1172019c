//! Tests of `server.rs`, kept beside it so the module itself stays readable.

use super::*;

fn parse(d: &Delivery) -> Value {
    serde_json::from_str(&d.to_line()).unwrap()
}

#[tokio::test]
async fn events_are_numbered_from_one_and_carry_their_fields() {
    let bus = EventBus::new(8);
    let mut sub = bus.subscribe();
    assert_eq!(sub.next_seq(), 1);
    assert_eq!(
        bus.publish(json!({"kind": "transition", "to": "MASTER"})),
        1
    );
    assert_eq!(bus.publish(json!("bare")), 2);
    let first = sub.recv().await.unwrap();
    assert_eq!(
        parse(&first),
        json!({"seq": 1, "kind": "transition", "to": "MASTER"})
    );
    let second = sub.recv().await.unwrap();
    assert_eq!(parse(&second), json!({"seq": 2, "event": "bare"}));
}

#[tokio::test]
async fn an_event_cannot_forge_its_sequence_number() {
    let bus = EventBus::new(8);
    let mut sub = bus.subscribe();
    bus.publish(json!({"seq": 99, "x": 1}));
    assert_eq!(parse(&sub.recv().await.unwrap()), json!({"seq": 1, "x": 1}));
}

#[tokio::test]
async fn a_late_subscriber_starts_at_the_next_number() {
    let bus = EventBus::new(8);
    bus.publish(json!({}));
    bus.publish(json!({}));
    let mut sub = bus.subscribe();
    assert_eq!(sub.next_seq(), 3);
    bus.publish(json!({}));
    assert!(matches!(
        sub.recv().await,
        Some(Delivery::Event { seq: 3, .. })
    ));
}

#[tokio::test]
async fn a_lagging_subscriber_is_told_how_many_it_lost_then_continues_in_order() {
    let bus = EventBus::new(4);
    let mut sub = bus.subscribe();
    for i in 0..10 {
        bus.publish(json!({"i": i}));
    }
    let lost = sub.recv().await.unwrap();
    assert_eq!(lost, Delivery::Lost { from: 1, count: 6 });
    assert_eq!(parse(&lost), json!({"seq": 1, "lost": 6}));
    for seq in 7..=10 {
        match sub.recv().await.unwrap() {
            Delivery::Event { seq: got, .. } => assert_eq!(got, seq),
            other => panic!("expected event {seq}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_gap_in_the_channel_is_reported_before_the_event_after_it() {
    // Forge a gap the bus itself never makes, to exercise the guard.
    let bus = EventBus::new(8);
    let mut sub = bus.subscribe();
    bus.tx.send((4, Arc::from("{\"seq\":4}"))).unwrap();
    assert_eq!(sub.recv().await, Some(Delivery::Lost { from: 1, count: 3 }));
    assert!(matches!(
        sub.recv().await,
        Some(Delivery::Event { seq: 4, .. })
    ));
    assert_eq!(sub.next_seq(), 5);
}

#[tokio::test]
async fn the_subscription_ends_when_the_bus_is_gone() {
    let bus = EventBus::new(8);
    let mut sub = bus.subscribe();
    drop(bus);
    assert_eq!(sub.recv().await, None);
}

#[test]
fn commands_are_parsed_and_bad_requests_explained() {
    assert!(matches!(
        parse_command(r#"{"cmd":"status"}"#),
        Ok(Command::Status)
    ));
    assert!(matches!(
        parse_command(r#"{"cmd":"reload"}"#),
        Ok(Command::Engine(EngineCommand::Reload))
    ));
    assert!(matches!(
        parse_command(r#"{"cmd":"events"}"#),
        Ok(Command::Events)
    ));
    let unknown = parse_command(r#"{"cmd":"explode"}"#).err().unwrap();
    assert!(unknown.contains("unknown command \"explode\""), "{unknown}");
    let garbage = parse_command("status").err().unwrap();
    assert!(garbage.starts_with("bad request"), "{garbage}");
    let no_cmd = parse_command("{}").err().unwrap();
    assert!(no_cmd.starts_with("bad request"), "{no_cmd}");
}

async fn reload(engine: Option<&mpsc::Sender<ReloadRequest>>) -> String {
    ask_engine(engine, EngineCommand::Reload).await
}

#[test]
fn drain_and_undrain_requests_name_their_instances() {
    let Ok(Command::Engine(c)) =
        parse_command(r#"{"cmd":"drain","instances":["VI_1","VI_2"],"soft":true}"#)
    else {
        panic!("drain parses");
    };
    assert_eq!(
        c,
        EngineCommand::Drain {
            instances: vec!["VI_1".into(), "VI_2".into()],
            soft: true
        }
    );
    let Ok(Command::Engine(c)) = parse_command(r#"{"cmd":"undrain"}"#) else {
        panic!("undrain parses");
    };
    assert_eq!(c, EngineCommand::Undrain { instances: vec![] });
    let bad = parse_command(r#"{"cmd":"drain","instances":[1]}"#)
        .err()
        .unwrap();
    assert!(bad.contains("names are strings"), "{bad}");
}

#[tokio::test]
async fn reload_without_an_engine_is_refused() {
    let answer: Value = serde_json::from_str(&reload(None).await).unwrap();
    assert_eq!(
        answer,
        json!({"ok": false, "error": "reload is not available"})
    );
}

#[tokio::test]
async fn reload_returns_the_engine_answer() {
    let (tx, mut rx) = mpsc::channel::<ReloadRequest>(1);
    let engine = tokio::spawn(async move {
        let first = rx.recv().await.unwrap();
        first.reply.send(Ok(())).unwrap();
        let second = rx.recv().await.unwrap();
        second.reply.send(Err("VI_1: bad vrid".into())).unwrap();
    });
    let ok: Value = serde_json::from_str(&reload(Some(&tx)).await).unwrap();
    assert_eq!(ok, json!({"ok": true}));
    let refused: Value = serde_json::from_str(&reload(Some(&tx)).await).unwrap();
    assert_eq!(refused, json!({"ok": false, "error": "VI_1: bad vrid"}));
    engine.await.unwrap();
    let gone: Value = serde_json::from_str(&reload(Some(&tx)).await).unwrap();
    assert_eq!(gone["error"], "the engine is not running");
}
