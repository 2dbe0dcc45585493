//! Simulcast layers: which of a publisher's encodings a subscriber should get, and when the
//! switch may happen. Pure, with table tests.
//!
//! - [`ranked`] orders a track's layers from smallest to largest (by the resolution their VP8
//!   keyframes announce, else by the usual RID names `q`/`h`/`f`).
//! - [`choose`] picks the layer for a subscriber's [`LayerLimit`] (what it asked for).
//! - [`LayerSwitch`] holds one subscriber's current and target layer: it keeps forwarding the
//!   current layer until the target's keyframe arrives, then switches on that packet, so the
//!   picture never freezes waiting for a keyframe.

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Layer {
    pub rid: Option<String>,
    pub ssrc: u32,
    /// Width and height from the layer's last keyframe.
    pub size: Option<(u16, u16)>,
    pub last_keyframe_request: Option<Instant>,
    /// Bytes received since the last rate measurement, and the last measured rate.
    pub bytes: u64,
    pub rate_bps: u64,
    /// Whether the publisher was last told to send this layer (dynacast), and since when
    /// no subscriber has needed it.
    pub active: bool,
    pub unneeded_since: Option<Instant>,
}

impl Layer {
    pub fn new(rid: Option<String>, ssrc: u32) -> Self {
        Self {
            rid,
            ssrc,
            size: None,
            last_keyframe_request: None,
            bytes: 0,
            rate_bps: 0,
            active: true,
            unneeded_since: None,
        }
    }
}

/// What one subscriber asked for on one track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayerLimit {
    /// Nothing (a hidden tile).
    Paused,
    /// The best there is.
    #[default]
    Highest,
    /// At most this rank (0 = smallest layer).
    MaxRank(u8),
    /// The smallest layer at least this large (the rendered size in device pixels).
    Fit { width: u16, height: u16 },
}

fn rid_rank(rid: Option<&str>) -> u8 {
    match rid {
        Some("q" | "l" | "low" | "0") => 0,
        Some("h" | "m" | "mid" | "1") => 1,
        Some("f" | "hi" | "high" | "2") => 2,
        _ => 1,
    }
}

/// Indices of `layers` from the smallest to the largest.
pub fn ranked(layers: &[Layer]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..layers.len()).collect();
    let all_sized = layers.iter().all(|l| l.size.is_some());
    order.sort_by_key(|&i| {
        let layer = &layers[i];
        match (all_sized, layer.size) {
            (true, Some((w, h))) => (u32::from(w) * u32::from(h), i),
            _ => (u32::from(rid_rank(layer.rid.as_deref())), i),
        }
    });
    order
}

/// The SSRC of the layer to forward for `limit`, or `None` when paused or nothing is published.
pub fn choose(layers: &[Layer], limit: LayerLimit) -> Option<u32> {
    choose_capped(layers, limit, None)
}

/// The rank (0 = smallest) `limit` asks for, or `None` when paused or nothing is published.
pub fn wanted_rank(layers: &[Layer], limit: LayerLimit) -> Option<usize> {
    let order = ranked(layers);
    let top = order.len().checked_sub(1)?;
    match limit {
        LayerLimit::Paused => None,
        LayerLimit::Highest => Some(top),
        LayerLimit::MaxRank(rank) => Some(usize::from(rank).min(top)),
        LayerLimit::Fit { width, height } => order
            .iter()
            .position(|&i| {
                layers[i]
                    .size
                    .is_some_and(|(w, h)| w >= width && h >= height)
            })
            .or(Some(top)),
    }
}

/// Like [`choose`], but never above rank `cap` (the bandwidth allocation).
pub fn choose_capped(layers: &[Layer], limit: LayerLimit, cap: Option<usize>) -> Option<u32> {
    let rank = wanted_rank(layers, limit)?;
    let rank = cap.map_or(rank, |cap| rank.min(cap));
    ranked(layers).get(rank).map(|&i| layers[i].ssrc)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerAction {
    Forward,
    /// First packet of a new layer (a keyframe): re-anchor the rewriting, then forward.
    Switch,
    Drop,
}

/// One subscriber's current and target layer of one track.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerSwitch {
    current: Option<u32>,
    target: Option<u32>,
}

impl LayerSwitch {
    pub fn current(&self) -> Option<u32> {
        self.current
    }

    pub fn set_target(&mut self, target: Option<u32>) {
        self.target = target;
    }

    /// Stops forwarding the current layer now rather than at the target's keyframe (a downlink
    /// that cannot carry it). Whether a layer was dropped.
    pub fn cut(&mut self) -> bool {
        let cutting = self.current.is_some() && self.waiting_for().is_some();
        if cutting {
            self.current = None;
        }
        cutting
    }

    /// The layer whose keyframe this subscriber is waiting for, if any.
    pub fn waiting_for(&self) -> Option<u32> {
        self.target.filter(|t| Some(*t) != self.current)
    }

    pub fn on_packet(&mut self, ssrc: u32, keyframe_start: bool) -> LayerAction {
        if self.target.is_none() {
            // Paused: stop at once, the next request restarts at a keyframe.
            self.current = None;
            return LayerAction::Drop;
        }
        if Some(ssrc) == self.target && self.current != self.target {
            if keyframe_start {
                self.current = self.target;
                return LayerAction::Switch;
            }
            return LayerAction::Drop;
        }
        if Some(ssrc) == self.current {
            return LayerAction::Forward;
        }
        LayerAction::Drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(rid: &str, ssrc: u32, size: Option<(u16, u16)>) -> Layer {
        Layer {
            size,
            ..Layer::new(Some(rid.to_owned()), ssrc)
        }
    }

    fn chromium_layers(sized: bool) -> Vec<Layer> {
        // Arrival order is not quality order.
        vec![
            layer("h", 2, sized.then_some((640, 360))),
            layer("f", 3, sized.then_some((1280, 720))),
            layer("q", 1, sized.then_some((320, 180))),
        ]
    }

    #[test]
    fn ranking_by_size_else_by_rid() {
        assert_eq!(ranked(&chromium_layers(true)), vec![2, 0, 1]);
        assert_eq!(ranked(&chromium_layers(false)), vec![2, 0, 1]);
        let odd = vec![
            layer("big", 9, Some((1920, 1080))),
            layer("small", 8, Some((160, 90))),
        ];
        assert_eq!(ranked(&odd), vec![1, 0]);
    }

    #[test]
    fn choose_table() {
        let layers = chromium_layers(true);
        let cases = [
            (LayerLimit::Highest, Some(3)),
            (LayerLimit::Paused, None),
            (LayerLimit::MaxRank(0), Some(1)),
            (LayerLimit::MaxRank(1), Some(2)),
            (LayerLimit::MaxRank(9), Some(3)),
            (
                LayerLimit::Fit {
                    width: 300,
                    height: 170,
                },
                Some(1),
            ),
            (
                LayerLimit::Fit {
                    width: 321,
                    height: 100,
                },
                Some(2),
            ),
            (
                LayerLimit::Fit {
                    width: 1000,
                    height: 600,
                },
                Some(3),
            ),
            (
                LayerLimit::Fit {
                    width: 4000,
                    height: 3000,
                },
                Some(3),
            ),
        ];
        for (limit, expected) in cases {
            assert_eq!(choose(&layers, limit), expected, "{limit:?}");
        }
        assert_eq!(choose(&[], LayerLimit::Highest), None);
        let single = vec![Layer::new(None, 7)];
        assert_eq!(
            choose(
                &single,
                LayerLimit::Fit {
                    width: 1,
                    height: 1
                }
            ),
            Some(7)
        );
    }

    #[test]
    fn switch_waits_for_the_target_keyframe_and_keeps_the_old_layer_meanwhile() {
        use LayerAction::*;
        let mut s = LayerSwitch::default();
        // (set target before, packet ssrc, keyframe, action, waiting for)
        type Row = (Option<Option<u32>>, u32, bool, LayerAction, Option<u32>);
        let rows: &[Row] = &[
            (Some(Some(1)), 1, false, Drop, Some(1)),
            (None, 1, true, Switch, None),
            (None, 1, false, Forward, None),
            (None, 3, true, Drop, None),                 // not asked for
            (Some(Some(3)), 1, false, Forward, Some(3)), // old layer until...
            (None, 3, false, Drop, Some(3)),
            (None, 3, true, Switch, None), // ...the new one's keyframe
            (None, 1, false, Drop, None),
            (None, 3, false, Forward, None),
            (Some(None), 3, false, Drop, None),       // paused
            (Some(Some(3)), 3, false, Drop, Some(3)), // resuming needs a keyframe
            (None, 3, true, Switch, None),
        ];
        for (i, (target, ssrc, key, action, waiting)) in rows.iter().enumerate() {
            if let Some(target) = target {
                s.set_target(*target);
            }
            assert_eq!(s.on_packet(*ssrc, *key), *action, "row {i}");
            assert_eq!(s.waiting_for(), *waiting, "row {i}");
        }
    }

    #[test]
    fn a_cut_drops_the_old_layer_before_the_new_keyframe() {
        use LayerAction::*;
        let mut s = LayerSwitch::default();
        s.set_target(Some(3));
        assert_eq!(s.on_packet(3, true), Switch);
        assert!(!s.cut(), "nothing to cut while not switching");
        s.set_target(Some(1));
        assert!(s.cut());
        assert_eq!(s.current(), None);
        assert_eq!(s.waiting_for(), Some(1));
        assert_eq!(s.on_packet(3, false), Drop, "the old layer stops at once");
        assert_eq!(s.on_packet(1, false), Drop);
        assert_eq!(s.on_packet(1, true), Switch);
        assert_eq!(s.on_packet(1, false), Forward);
    }
}
