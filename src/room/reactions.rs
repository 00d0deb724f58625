//! Reactions of the current window: this node's (told to the cluster) and the
//! other nodes' (only shown here), summed into one `reactions` frame per window.

use std::sync::Arc;

/// What one window produced.
pub struct Window {
    /// Every node's counts by emoji name, for the `reactions` frame.
    pub counts: serde_json::Map<String, serde_json::Value>,
    /// This node's counts, for the other nodes (None if it had none).
    pub local: Option<Vec<(String, u64)>>,
}

pub struct Reactions {
    /// The configured emoji set; counts are kept by index into it.
    emojis: Arc<[String]>,
    local: Vec<u64>,
    remote: Vec<u64>,
}

impl Reactions {
    pub fn new(emojis: Arc<[String]>) -> Self {
        Reactions {
            local: vec![0; emojis.len()],
            remote: vec![0; emojis.len()],
            emojis,
        }
    }

    /// Count one reaction of this node; false for an index outside the set.
    pub fn add_local(&mut self, emoji: usize) -> bool {
        match self.local.get_mut(emoji) {
            Some(n) => {
                *n += 1;
                true
            }
            None => false,
        }
    }

    /// Add another node's window; answers how many reactions were counted.
    pub fn add_remote(&mut self, counts: &[(String, u64)]) -> u64 {
        let mut added = 0;
        for (emoji, n) in counts {
            if let Some(i) = self.emojis.iter().position(|e| e == emoji) {
                self.remote[i] += n;
                added += n;
            }
        }
        added
    }

    /// End the window: its counts (None if there were none) and zeroes for the next.
    pub fn take_window(&mut self) -> Option<Window> {
        let local_any = self.local.iter().any(|&n| n > 0);
        if !local_any && self.remote.iter().all(|&n| n == 0) {
            return None;
        }
        let local = local_any.then(|| {
            self.local
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (self.emojis[i].clone(), *n))
                .collect()
        });
        let mut counts = serde_json::Map::new();
        for (i, (mine, theirs)) in self
            .local
            .iter_mut()
            .zip(self.remote.iter_mut())
            .enumerate()
        {
            let n = *mine + *theirs;
            if n > 0 {
                counts.insert(self.emojis[i].clone(), n.into());
            }
            *mine = 0;
            *theirs = 0;
        }
        Some(Window { counts, local })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_sums_every_node_and_tells_the_cluster_only_ours() {
        let mut r = Reactions::new(vec!["heart".to_owned(), "fire".to_owned()].into());
        assert!(r.take_window().is_none(), "an empty window sends nothing");
        assert!(r.add_local(0));
        assert!(!r.add_local(7));
        assert_eq!(r.add_remote(&[("heart".into(), 2), ("nope".into(), 5)]), 2);
        let w = r.take_window().unwrap();
        assert_eq!(
            serde_json::Value::Object(w.counts),
            serde_json::json!({"heart": 3})
        );
        assert_eq!(w.local, Some(vec![("heart".to_owned(), 1)]));
        assert!(r.take_window().is_none(), "the next window starts at zero");
        r.add_remote(&[("fire".into(), 1)]);
        assert_eq!(r.take_window().unwrap().local, None);
    }
}
