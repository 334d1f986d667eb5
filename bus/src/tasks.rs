//! The background tasks of an instance on the bus: the lease (who leads), following the
//! leader's changes, relaying the changes this instance commits as leader, answering commands
//! and nearest-patrol questions as leader, and taking other instances' position fixes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use gridwall_city::command::Command;
use gridwall_city::records::{Change, TrackPoint};
use gridwall_city::world::MAX_NEAREST;

use crate::{Answer, Bus, NearestAsk, Node, Role, decode_fixes};

/// Starts them; they end with the server.
pub fn spawn<N: Node>(node: &Arc<N>, bus: &Arc<Bus>, relay: mpsc::UnboundedReceiver<Change>) -> Vec<JoinHandle<()>> {
    let seen = Arc::new(AtomicU64::new(0));
    vec![
        tokio::spawn(lease(node.clone(), bus.clone(), seen.clone())),
        tokio::spawn(follow(node.clone(), bus.clone(), seen.clone())),
        tokio::spawn(relay_changes(bus.clone(), relay)),
        tokio::spawn(serve_leader(node.clone(), bus.clone())),
        tokio::spawn(take_positions(node.clone(), bus.clone())),
    ]
}

/// Holds or seeks the city's lease every second. Winning it makes this instance the leader
/// (after taking over the city in the store); losing it, or finding the store taken over by
/// another, makes it a follower again.
async fn lease<N: Node>(node: Arc<N>, bus: Arc<Bus>, seen: Arc<AtomicU64>) {
    let kv = loop {
        match bus.js.get_key_value("gridwall_leases").await {
            Ok(kv) => break kv,
            Err(e) => {
                tracing::warn!("the lease bucket: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let key = bus.city.clone();
    let me = Bytes::from(bus.instance.clone());
    let mut held: Option<u64> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut shutdown = node.shutdown();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        if node.superseded() {
            if bus.role() == Role::Leader {
                tracing::warn!("another instance has taken over the city: following it");
                demote(&node, &bus).await;
            }
            held = None;
            node.clear_superseded();
            continue;
        }
        held = match held {
            Some(rev) => match kv.update(&key, me.clone(), rev).await {
                Ok(rev) => Some(rev),
                Err(e) => match kv.entry(&key).await {
                    // Ours still (an answer lost on the way): go on from its revision.
                    Ok(Some(entry))
                        if entry.value == me && entry.operation == async_nats::jetstream::kv::Operation::Put =>
                    {
                        Some(entry.revision)
                    }
                    Ok(Some(entry))
                        if entry.value != me && entry.operation == async_nats::jetstream::kv::Operation::Put =>
                    {
                        tracing::warn!(
                            "the lease went to {}: following it ({e})",
                            String::from_utf8_lossy(&entry.value)
                        );
                        demote(&node, &bus).await;
                        None
                    }
                    // The bus is away: keep leading (the store's epoch guards against two writers).
                    Err(_) => Some(rev),
                    // Expired meanwhile: take it again.
                    _ => kv.create(&key, me.clone()).await.ok().or(Some(rev)),
                },
            },
            None => match kv.create(&key, me.clone()).await {
                Ok(rev) => {
                    if promote(&node, &bus, &seen).await {
                        Some(rev)
                    } else {
                        let _ = kv.delete(&key).await;
                        None
                    }
                }
                Err(_) => None,
            },
        };
    }
    if held.is_some() {
        // Hand the city on at once instead of after the lease's time to live.
        let _ = kv.delete(&key).await;
    }
}

/// Takes over the city: its epoch in the store (a former leader writes nothing more), the
/// state as stored (every change committed so far), then leads.
async fn promote<N: Node>(node: &Arc<N>, bus: &Arc<Bus>, seen: &AtomicU64) -> bool {
    if let Err(e) = node.take_over().await {
        tracing::warn!("won the lease but could not take over the city in the store: {e}");
        return false;
    }
    if let Err(e) = node.rebuild().await {
        tracing::warn!("won the lease but could not read the city back: {e}");
        return false;
    }
    node.set_replica(false);
    let last = node.change_id();
    tracing::info!(instance = bus.instance, change = last, "leading the city");
    bus.role.send_replace(Role::Leader);
    // What the former leader committed but did not relay goes out now (a repeat is dropped).
    let from = seen.load(Ordering::Acquire).max(bus.last_relayed().await.unwrap_or(0));
    match node.changes_after(from, usize::MAX).await {
        Ok(changes) => {
            for c in changes {
                if let Err(e) = bus.relay(&c).await {
                    tracing::warn!("relaying change {}: {e}", c.id);
                    break;
                }
            }
        }
        Err(e) => tracing::warn!("reading the changes to relay: {e}"),
    }
    true
}

async fn demote<N: Node>(node: &Arc<N>, bus: &Arc<Bus>) {
    // The live state stops writing first (the tick checks it), then the other tasks hear it.
    node.set_replica(true);
    bus.role.send_replace(Role::Follower);
    if let Err(e) = node.rebuild().await {
        tracing::warn!("following: the state could not be read back yet: {e}");
    }
}

/// Applies the leader's changes in order: from the stream as they come, from the store when
/// one is missing (and every two seconds, in case the stream is quiet or away).
async fn follow<N: Node>(node: Arc<N>, bus: Arc<Bus>, seen: Arc<AtomicU64>) {
    let mut shutdown = node.shutdown();
    let mut poll = tokio::time::interval(Duration::from_secs(2));
    let mut rx: Option<mpsc::Receiver<Change>> = None;
    // Whether a change came from the stream since the last poll.
    let mut streamed = false;
    loop {
        if rx.is_none() {
            match bus.changes().await {
                Ok(r) => rx = Some(r),
                Err(e) => tracing::debug!("the changes stream: {e}"),
            }
        }
        let next = async {
            match &mut rx {
                Some(r) => r.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            c = next => if let Some(c) = c {
                seen.fetch_max(c.id, Ordering::AcqRel);
                streamed = true;
                catch_up(&*node, Some(c)).await;
            } else {
                rx = None;
                tokio::time::sleep(Duration::from_millis(500)).await;
            },
            () = bus.reconnected.notified() => {
                // The bus came back: a new consumer at once (changes meanwhile come from the store).
                rx = None;
                catch_up(&*node, None).await;
            }
            _ = poll.tick() => {
                // Changes only the store had, and nothing from the stream for a while: its
                // consumer did not come back with the bus (a NATS restart); make a new one.
                if catch_up(&*node, None).await > 0 && !streamed && rx.is_some() {
                    tracing::info!("the changes stream fell silent: subscribing again");
                    rx = None;
                }
                streamed = false;
            }
            _ = shutdown.changed() => break,
        }
    }
}

/// Applies `change` after whatever is missing before it (read from the store); how many were
/// missing.
async fn catch_up<N: Node>(node: &N, change: Option<Change>) -> usize {
    let applied = node.change_id();
    if change.as_ref().is_some_and(|c| c.id <= applied) {
        return 0;
    }
    let mut filled = 0;
    if change.as_ref().is_none_or(|c| c.id > applied + 1) {
        let limit = change.as_ref().map_or(10_000, |c| (c.id - applied - 1) as usize);
        match node.changes_after(applied, limit).await {
            Ok(missing) => {
                filled = missing.len();
                for c in missing {
                    node.apply_change(&c);
                }
            }
            Err(e) => {
                tracing::debug!("changes from the store: {e}");
                return 0;
            }
        }
    }
    if let Some(c) = change {
        node.apply_change(&c);
    }
    filled
}

/// Relays the changes this instance commits as leader, in order; retried while the bus is away.
async fn relay_changes(bus: Arc<Bus>, mut rx: mpsc::UnboundedReceiver<Change>) {
    while let Some(c) = rx.recv().await {
        loop {
            match bus.relay(&c).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::debug!("change {} waits for the bus: {e}", c.id);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// While leading: answers the other instances' commands and nearest-patrol questions.
async fn serve_leader<N: Node>(node: Arc<N>, bus: Arc<Bus>) {
    let mut role = bus.role.subscribe();
    let mut shutdown = node.shutdown();
    loop {
        if *role.borrow_and_update() != Role::Leader {
            tokio::select! {
                _ = role.changed() => continue,
                _ = shutdown.changed() => return,
            }
        }
        let (Ok(mut commands), Ok(mut nearest)) =
            (bus.client.subscribe(bus.command_subject()).await, bus.client.subscribe(bus.nearest_subject()).await)
        else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        loop {
            tokio::select! {
                Some(m) = commands.next() => {
                    let (node, bus) = (node.clone(), bus.clone());
                    tokio::spawn(async move {
                        let answer = match serde_json::from_slice::<Command>(&m.payload) {
                            Ok(cmd) => node.lead(&cmd).await,
                            Err(e) => Answer::Failed { message: format!("a command that cannot be read: {e}") },
                        };
                        if let Some(reply) = m.reply {
                            let body = serde_json::to_vec(&answer).expect("an answer serialises");
                            let _ = bus.client.publish(reply, body.into()).await;
                        }
                    });
                }
                Some(m) = nearest.next() => {
                    let answer = match serde_json::from_slice::<NearestAsk>(&m.payload) {
                        Ok(q) if q.x.is_finite() && q.y.is_finite() => {
                            node.nearest_here([q.x, q.y], q.k.min(MAX_NEAREST))
                        }
                        _ => Vec::new(),
                    };
                    if let Some(reply) = m.reply {
                        let body = serde_json::to_vec(&answer).expect("an answer serialises");
                        let _ = bus.client.publish(reply, body.into()).await;
                    }
                }
                r = role.changed() => {
                    if r.is_err() || *role.borrow_and_update() != Role::Leader {
                        break;
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Takes the fixes other instances publish, for the tiles this instance's displays look at (all
/// tiles while leading), into the live state.
async fn take_positions<N: Node>(node: Arc<N>, bus: Arc<Bus>) {
    let (tx, mut rx) = mpsc::channel::<Vec<TrackPoint>>(4096);
    let mut subs: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut every = tokio::time::interval(Duration::from_millis(250));
    let mut shutdown = node.shutdown();
    loop {
        tokio::select! {
            _ = every.tick() => {
                let wanted: Vec<String> = if bus.role() == Role::Leader {
                    vec![bus.all_tiles_subject()]
                } else {
                    bus.wanted_tiles().into_iter().map(|t| bus.tile_subject(t)).collect()
                };
                subs.retain(|subject, task| {
                    let keep = wanted.contains(subject);
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for subject in wanted {
                    if subs.contains_key(&subject) {
                        continue;
                    }
                    match bus.client.subscribe(subject.clone()).await {
                        Ok(mut s) => {
                            let tx = tx.clone();
                            subs.insert(subject, tokio::spawn(async move {
                                while let Some(m) = s.next().await {
                                    if let Some(points) = decode_fixes(&m.payload)
                                        && tx.send(points).await.is_err()
                                    {
                                        return;
                                    }
                                }
                            }));
                        }
                        Err(e) => tracing::debug!("subscribing to {subject}: {e}"),
                    }
                }
            }
            Some(first) = rx.recv() => {
                let mut points = first;
                while let Ok(more) = rx.try_recv() {
                    points.extend(more);
                    if points.len() > 100_000 {
                        break;
                    }
                }
                node.take_fixes(points);
            }
            _ = shutdown.changed() => break,
        }
    }
    for task in subs.into_values() {
        task.abort();
    }
}
