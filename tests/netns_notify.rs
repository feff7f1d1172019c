//! Notify scripts and the event stream in order: a burst of transitions queues several
//! runs of a slow notify script; they run one at a time, in transition order, with
//! keepalived's arguments, the last one (STOP) while the daemon exits; the event stream
//! carries the same transitions with consecutive sequence numbers. Needs root and the
//! release agent (`cargo xtask test`).

use std::time::Duration;

use vrrp_agent::proto::router::StateName::{self, Backup, Initialize, Master};
use vrrpx_tests::agent::{expect_alone, Agent};
use vrrpx_tests::events::Line;
use vrrpx_tests::netns::{secs, wait_for};
use vrrpx_tests::pair::{config, fixture, has, pair_test, VIP};
use vrrpx_tests::{agent_bin, write_script};

/// keepalived's word for a state in notify arguments (`INIT` is `STOP`).
fn notify_word(state: StateName) -> String {
    match state {
        Initialize => "STOP".to_string(),
        other => other.to_string(),
    }
}

#[test]
fn notify_scripts_run_one_at_a_time_in_transition_order_and_events_carry_consecutive_sequence_numbers(
) {
    let (dir, mut lab) = pair_test("ops-notify");
    // The script takes a while, so that a burst of transitions queues several runs: they
    // must still run one at a time, in order (every "start" followed by its own "end").
    let notify_log = dir.join("notify.log");
    let script = dir.join("notify.sh");
    let log = notify_log.display();
    let body =
        format!("#!/bin/sh\necho \"start $*\" >> {log}\nsleep 0.2\necho \"end $*\" >> {log}\n");
    write_script(&script, &body);
    let template = std::fs::read_to_string(fixture("ops/notify-r2.conf.in")).unwrap();
    let conf = dir.join("notify-r2.conf");
    std::fs::write(
        &conf,
        template.replace("@NOTIFY@", script.to_str().unwrap()),
    )
    .unwrap();

    let r1 = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, &[]);
    assert!(
        wait_for(secs(5), || has(&lab, "r1", VIP)),
        "r1 is master\n{}",
        r1.log()
    );
    // The harness follows r2's events through the control socket; `vrrp-agent events`, as
    // an operator runs it in r2's namespace (no flag: the namespace's own daemon), too.
    let r2 = Agent::start(&mut lab, "r2", &conf, &dir, &[]);
    let bin = agent_bin();
    let events_file = dir.join("events.jsonl");
    let events = lab
        .spawn(
            "r2",
            &[bin.to_str().unwrap(), "events"],
            &events_file,
            &dir.join("events.err"),
        )
        .unwrap();
    // Subscribed well before the first transition below.
    std::thread::sleep(secs(1));

    // A stalled r2 (SIGSTOP longer than Master_Down) changes nothing: r1 kept advertising.
    r2.signal(&lab, libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(800));
    r2.signal(&lab, libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(500));

    // A burst: r1 leaves (r2 MASTER), comes back and preempts (r2 BACKUP), leaves again
    // (r2 MASTER), each step as soon as the previous one is visible.
    assert!(r1.stop(&mut lab, libc::SIGTERM, secs(2)));
    // r2 takes over.
    expect_alone(&lab, "r2", VIP, secs(2), &[&r2]);
    let r1 = Agent::start(&mut lab, "r1", &config("pair-master.conf"), &dir, &[]);
    // r1 preempts.
    expect_alone(&lab, "r1", VIP, secs(5), &[&r1, &r2]);
    assert!(r1.stop(&mut lab, libc::SIGTERM, secs(2)));
    // r2 takes over again.
    expect_alone(&lab, "r2", VIP, secs(2), &[&r2]);
    let ends = |n: usize| {
        let text = std::fs::read_to_string(&notify_log).unwrap_or_default();
        text.lines().filter(|l| l.starts_with("end ")).count() >= n
    };
    assert!(
        wait_for(secs(10), || ends(4)),
        "four notify runs finished:\n{}",
        std::fs::read_to_string(&notify_log).unwrap_or_default()
    );
    // r2 stops: its notify for STOP still runs (the agent drains its queue on exit).
    assert!(r2.stop(&mut lab, libc::SIGTERM, secs(5)), "r2 exits");
    assert!(
        wait_for(secs(3), || ends(5)),
        "the STOP notify ran:\n{}",
        std::fs::read_to_string(&notify_log).unwrap_or_default()
    );
    // The event stream ends with the daemon, for the harness and for `vrrp-agent events`.
    assert!(
        wait_for(secs(3), || r2.stream_closed()),
        "the stream closed when r2 exited"
    );
    let closed = wait_for(secs(3), || lab.exited(events));
    if !closed {
        lab.stop(events, libc::SIGTERM, secs(2)).unwrap();
    }

    // The agent's own account of what happened, in order: the start-up transition (in
    // the status at subscription), then the stream's.
    let history: Vec<String> = r2
        .history("VI_51")
        .iter()
        .map(|(to, _)| notify_word(*to))
        .collect();
    assert_eq!(
        history,
        ["BACKUP", "MASTER", "BACKUP", "MASTER", "STOP"],
        "r2's transitions\n{}",
        r2.log()
    );

    // The notify runs: never overlapping, in the same order, with keepalived's arguments.
    let text = std::fs::read_to_string(&notify_log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10, "five runs, start and end each:\n{text}");
    let mut ran = Vec::new();
    for pair in lines.chunks(2) {
        let args = pair[0]
            .strip_prefix("start ")
            .unwrap_or_else(|| panic!("a run starts only after the previous ended:\n{text}"));
        assert_eq!(
            pair[1],
            format!("end {args}"),
            "runs do not overlap:\n{text}"
        );
        let words: Vec<&str> = args.split_whitespace().collect();
        assert_eq!(words.len(), 4, "INSTANCE name STATE priority: {args}");
        assert_eq!(&words[..2], ["INSTANCE", "VI_51"], "{args}");
        assert_eq!(words[3], "100", "{args}");
        ran.push(words[2].to_string());
    }
    assert_eq!(ran, history, "notify order matches the transitions\n{text}");

    // The event stream: consecutive sequence numbers, the transitions since subscribing in
    // the same order. The start-up transition was event 1, before the subscription.
    let lines = r2.lines();
    assert_eq!(
        r2.first_seq(),
        2,
        "first event after the start-up one: {lines:#?}"
    );
    assert!(
        lines.iter().all(|l| matches!(l, Line::Event { .. })),
        "nothing lost, nothing unparsed: {lines:#?}"
    );
    let evs = r2.events();
    let seqs: Vec<u64> = evs.iter().map(|(seq, _)| *seq).collect();
    assert!(!seqs.is_empty(), "events seen");
    assert_eq!(seqs[0], 2, "{seqs:?}");
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "seq increases by 1: {seqs:?}");
    }
    assert_eq!(
        r2.all_moves_since(0)
            .into_iter()
            .map(|(name, to, _)| (to, name))
            .collect::<Vec<_>>(),
        [
            (Master, "VI_51".to_string()),
            (Backup, "VI_51".to_string()),
            (Master, "VI_51".to_string()),
            (Initialize, "VI_51".to_string())
        ],
        "events: {evs:#?}"
    );
    // `vrrp-agent events` printed the same lines.
    let printed: Vec<Line> = std::fs::read_to_string(&events_file)
        .unwrap_or_default()
        .lines()
        .map(|l| Line::parse(serde_json::from_str(l).unwrap()))
        .collect();
    assert_eq!(
        printed,
        lines,
        "the CLI's stream\n{}",
        std::fs::read_to_string(dir.join("events.err")).unwrap_or_default()
    );
}
