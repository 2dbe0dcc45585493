//! What both scenarios start from: the server located and watched, every chatter connected
//! (with bounded concurrency, in a stable order) and put into its group conversation.

use super::ChatArgs;
use crate::watch::procfs::ServerSample;
use crate::watch::server::{watch_server, ServerMonitor};
use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use loadtest::chatter::Chatter;
use signaling::protocol::chat::NewConversationKind;
use signaling::protocol::{ClientMessage, ServerMessage};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Group conversations created at once.
const CREATE_CONCURRENCY: usize = 16;
/// Pause after the groups exist, so membership events have gone out before the idle reading.
const SETTLE: Duration = Duration::from_secs(1);
/// File descriptors this process needs besides its WebSockets.
const SPARE_FILES: u64 = 100;

/// Connected chatters in their groups, and the server being watched.
pub struct Setup {
    /// Chatter `i` is `chatter-{i}`.
    pub chatters: Vec<Arc<Chatter>>,
    /// (conversation id, member indexes); group g holds chatters g, g + conversations, ...
    pub groups: Vec<(String, Vec<usize>)>,
    pub monitor: Option<ServerMonitor>,
    /// The server before connecting.
    pub before: Option<ServerSample>,
    /// The server once every chatter said hello and the groups exist.
    pub idle: Option<ServerSample>,
    pub connect_seconds: f64,
    pub open_file_limit: Option<u64>,
}

impl Setup {
    pub async fn prepare(
        tokens: &crate::Tokens,
        url: &str,
        ws_urls: &[String],
        args: &ChatArgs,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let open_file_limit = crate::fdlimit::soft().ok();
        let needed = args.connections as u64 + SPARE_FILES;
        if let Some(limit) = open_file_limit.filter(|&l| l < needed) {
            eprintln!(
                "warning: the open-file limit is {limit}, below the {needed} that {} connections need; raise the hard limit (ulimit -Hn)",
                args.connections
            );
        }
        let monitor = watch_server(args.server_pid, url, started)?;
        let before = monitor.as_ref().and_then(ServerMonitor::snapshot);
        let connecting = Instant::now();
        let chatters = connect_all(tokens, ws_urls, args).await?;
        let connect_seconds = connecting.elapsed().as_secs_f64();
        let groups = create_groups(&chatters, args.conversations).await?;
        tokio::time::sleep(SETTLE).await;
        let idle = monitor.as_ref().and_then(ServerMonitor::snapshot);
        Ok(Self {
            chatters,
            groups,
            monitor,
            before,
            idle,
            connect_seconds,
            open_file_limit,
        })
    }

    /// A reading of the server now, if it is watched.
    pub fn snapshot(&self) -> Option<ServerSample> {
        self.monitor.as_ref().and_then(ServerMonitor::snapshot)
    }

    /// Closes every chatter.
    pub fn close(&self) {
        for chatter in &self.chatters {
            chatter.close();
        }
    }
}

/// Connects `chatter-0` … `chatter-{n-1}`, `connect_concurrency` at a time; the result is in
/// that order whatever order they finished in. With several nodes, chatter `i` connects to
/// node [`node_of`]`(i)`, so every group spans the nodes.
async fn connect_all(
    tokens: &crate::Tokens,
    ws_urls: &[String],
    args: &ChatArgs,
) -> anyhow::Result<Vec<Arc<Chatter>>> {
    let bar = ProgressBar::new(args.connections as u64);
    bar.set_style(ProgressStyle::with_template(
        "connecting {bar:40} {pos}/{len} {per_sec}",
    )?);
    let mut connecting = futures_util::stream::iter(0..args.connections)
        .map(|i| async move {
            let name = format!("chatter-{i}");
            let token = tokens.token(&name, "chat-load").await?;
            let ws_url = &ws_urls[node_of(i, args.conversations, ws_urls.len())];
            let chatter = Chatter::connect(ws_url, &token)
                .await
                .with_context(|| format!("{name} could not connect"))?;
            anyhow::Ok((i, chatter))
        })
        .buffer_unordered(args.connect_concurrency.max(1));
    let mut slots: Vec<Option<Arc<Chatter>>> = vec![None; args.connections];
    while let Some(connected) = connecting.next().await {
        let (i, chatter) = connected?;
        slots[i] = Some(Arc::new(chatter));
        bar.inc(1);
    }
    bar.finish();
    Ok(slots.into_iter().flatten().collect())
}

/// The node chatter `i` connects to: group g's k-th member (chatter g + k * conversations)
/// goes to node k mod nodes, so a group's members are on every node.
pub fn node_of(i: usize, conversations: usize, nodes: usize) -> usize {
    (i / conversations.max(1)) % nodes.max(1)
}

/// Group g: chatters g, g + conversations, g + 2 * conversations, ..., created by the first.
async fn create_groups(
    chatters: &[Arc<Chatter>],
    conversations: usize,
) -> anyhow::Result<Vec<(String, Vec<usize>)>> {
    futures_util::stream::iter(0..conversations)
        .map(|g| async move {
            let members: Vec<usize> = (g..chatters.len()).step_by(conversations).collect();
            let with = members[1..]
                .iter()
                .map(|&m| chatters[m].identity.clone())
                .collect();
            let reply = chatters[members[0]]
                .request(|id| ClientMessage::ChatCreate {
                    id,
                    kind: NewConversationKind::Group,
                    with,
                    title: Some(format!("load {g}")),
                })
                .await?;
            let ServerMessage::ChatConversation { conversation, .. } = reply else {
                anyhow::bail!("unexpected reply to chat_create: {reply:?}");
            };
            Ok((conversation.id, members))
        })
        .buffered(CREATE_CONCURRENCY)
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::node_of;

    #[test]
    #[rustfmt::skip]
    fn every_group_spans_every_node() {
        // (chatter, conversations, nodes, node)
        let rows = [
            (0,   100, 3, 0), (100, 100, 3, 1), (200, 100, 3, 2), (300, 100, 3, 0),
            (57,  100, 3, 0), (157, 100, 3, 1),
            (5,   10,  1, 0), (999, 10,  1, 0),
        ];
        for (i, conversations, nodes, want) in rows {
            assert_eq!(node_of(i, conversations, nodes), want, "chatter {i}");
        }
    }
}
