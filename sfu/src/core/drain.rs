//! Draining a peer connection after an input: datagrams out (following the browser's ICE
//! nominations), connection events, and RTCP/RTP messages in.

use super::*;

impl SfuCore {
    pub(super) fn drain_peer(&mut self, now: Instant, id: PeerId) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        loop {
            let mut progressed = false;
            while let Some(out) = peer.pc.poll_write() {
                progressed = true;
                let mut flow = Flow::of(&out.transport);
                if stun::is_stun(&out.message) {
                    // The connection only answers checks that passed MESSAGE-INTEGRITY, so a
                    // flow it writes to is a validated route for non-STUN traffic; an
                    // answered nomination is the browser's current path.
                    self.learn_flow(id, &mut peer, flow);
                    if peer.nominating == Some(flow) {
                        peer.nominating = None;
                        let moved = peer.path.is_some_and(|path| path != flow);
                        if peer.path != Some(flow) {
                            tracing::debug!(participant = %peer.owner, role = ?peer.role, peer_addr = %flow.peer, transport = ?flow.transport, "following the browser to a new candidate pair");
                        }
                        peer.path = Some(flow);
                        if moved {
                            // What went the old way since it stopped working was lost (a
                            // network change, an ICE restart): decoders need keyframes, and
                            // repairing what the old path swallowed would only delay them.
                            self.want_keyframes(id, &peer);
                            if let Some(estimate) = &peer.estimate {
                                for down in peer.down.values() {
                                    if let Some(next) = down.forwarder.next_sequence_number() {
                                        estimate.restarted(down.forwarder.out_ssrc(), next);
                                    }
                                }
                            }
                        }
                    }
                } else if let Some(path) = peer.path {
                    flow = path;
                }
                self.transmits.push_back(Transmit {
                    flow,
                    payload: out.message,
                });
            }
            while let Some(event) = peer.pc.poll_event() {
                progressed = true;
                self.on_peer_event(now, id, &mut peer, event);
            }
            while let Some(TaggedRTCMessage { message, .. }) = peer.pc.poll_read() {
                progressed = true;
                self.on_peer_message(now, id, &mut peer, message);
            }
            if !progressed {
                break;
            }
        }
        self.timers.set_peer(id, peer.pc.poll_timeout());
        self.peers.insert(id, peer);
    }

    /// Keyframes for what connection `id` carries, after a stretch in which its packets may
    /// have been lost: for a subscriber, the layer of each track it is sent (or is waiting
    /// for); for a publisher, every layer of its video tracks (its subscribers' decoders lost
    /// them too).
    fn want_keyframes(&mut self, id: PeerId, peer: &Peer) {
        if peer.role == PeerRole::Subscriber {
            for (track, down) in &peer.down {
                if let Some(ssrc) = down.layer.waiting_for().or(down.layer.current()) {
                    self.keyframe_wanted.insert((track.clone(), ssrc));
                }
            }
            return;
        }
        for (track, up) in &self.up_tracks {
            if up.origin.publisher() == Some(id) && up.video_codec.is_some() {
                for layer in &up.layers {
                    self.keyframe_wanted.insert((track.clone(), layer.ssrc));
                }
            }
        }
    }

    fn on_peer_event(
        &mut self,
        now: Instant,
        id: PeerId,
        peer: &mut Peer,
        event: RTCPeerConnectionEvent,
    ) {
        match event {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                let mapped = match state {
                    RTCPeerConnectionState::Connected => PeerState::Connected,
                    RTCPeerConnectionState::Disconnected => PeerState::Disconnected,
                    RTCPeerConnectionState::Failed => PeerState::Failed,
                    RTCPeerConnectionState::Closed => PeerState::Closed,
                    _ => PeerState::Connecting,
                };
                tracing::info!(participant = %peer.owner, role = ?peer.role, state = ?mapped, "peer connection state");
                // Disconnected is often transient (the browser moving to another candidate
                // pair); only a failed or closed connection stops forwarding.
                let was_connected = peer.connected;
                peer.ever_connected |= mapped == PeerState::Connected;
                peer.connected = match mapped {
                    PeerState::Connected => true,
                    PeerState::Failed | PeerState::Closed => false,
                    _ => peer.connected,
                };
                if peer.connected && !was_connected && peer.role == PeerRole::Subscriber {
                    // Anything forwarded before DTLS completed was dropped: start with keyframes.
                    self.want_keyframes(id, peer);
                }
                let owner = peer.owner.clone();
                let role = peer.role;
                self.emit(
                    &owner,
                    SfuEvent::PeerState {
                        role,
                        state: mapped,
                    },
                );
            }
            RTCPeerConnectionEvent::OnTrack(track_event) if peer.role.publishes() => {
                self.on_publisher_track(now, id, peer, track_event);
            }
            _ => {}
        }
    }

    fn on_peer_message(
        &mut self,
        now: Instant,
        id: PeerId,
        peer: &mut Peer,
        message: rtc::peer_connection::message::RTCMessage,
    ) {
        use rtc::peer_connection::message::RTCMessage;
        match message {
            RTCMessage::RtpPacket(track_id, packet) if peer.role.publishes() => {
                peer.media_seen = true;
                self.forward_rtp(now, id, &track_id, packet);
            }
            RTCMessage::RtcpPacket(track_id, packets) if peer.role == PeerRole::Subscriber => {
                // Only keyframe requests are delivered here (see peer.rs): relay them.
                let track = TrackSid(track_id.to_string());
                let layer = peer
                    .down
                    .get(&track)
                    .and_then(|d| d.layer.waiting_for().or(d.layer.current()));
                if let (false, Some(ssrc)) = (packets.is_empty(), layer) {
                    self.keyframe_wanted.insert((track, ssrc));
                }
            }
            _ => {}
        }
    }
}
