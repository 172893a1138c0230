//! The pre-authentication budget of a tunnel end: how many connections may be proving
//! themselves at once, apart from the slots of authenticated tunnels. When it is full, the
//! oldest unproven connection is told to close, so a flood of silent connections cannot hold
//! the budget against a slave whose first packet follows its connect within milliseconds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// At most `max` connections awaiting authentication (see the module docs).
#[derive(Debug)]
pub struct PreAuthBudget {
    max: usize,
    waiting: Mutex<Waiting>,
}

#[derive(Debug, Default)]
struct Waiting {
    next: u64,
    /// By admission order: the first entry is the oldest.
    tickets: BTreeMap<u64, oneshot::Sender<()>>,
}

/// One connection's place in the budget, given up when dropped (authenticated or refused).
#[derive(Debug)]
pub struct Ticket {
    id: u64,
    evict: oneshot::Receiver<()>,
    budget: Arc<PreAuthBudget>,
}

impl PreAuthBudget {
    /// A budget of `max` (at least 1).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { max: max.max(1), waiting: Mutex::new(Waiting::default()) })
    }

    /// Admits a new connection; when the budget is full, the oldest waiting one is told to
    /// close first (its [`Ticket::evicted`] resolves). Returns the ticket and whether one was
    /// evicted.
    pub fn admit(self: &Arc<Self>) -> (Ticket, bool) {
        let mut w = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let mut evicted = false;
        while w.tickets.len() >= self.max {
            if let Some((_, oldest)) = w.tickets.pop_first() {
                // The receiver may be gone already (its task is ending); nothing to tell.
                let _ = oldest.send(());
                evicted = true;
            }
        }
        let id = w.next;
        w.next += 1;
        let (tx, rx) = oneshot::channel();
        w.tickets.insert(id, tx);
        (Ticket { id, evict: rx, budget: Arc::clone(self) }, evicted)
    }

    /// Connections waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner).tickets.len()
    }
}

impl Ticket {
    /// Resolves when this connection has been evicted to make room for a newer one.
    pub async fn evicted(&mut self) {
        // An error means the sender was dropped: only an eviction removes it while the ticket
        // lives.
        let _ = (&mut self.evict).await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.budget.waiting.lock().unwrap_or_else(PoisonError::into_inner).tickets.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn is_evicted(t: &mut Ticket) -> bool {
        // Evictions are delivered before admit() returns: a zero timeout is enough to see one.
        tokio::time::timeout(Duration::ZERO, t.evicted()).await.is_ok()
    }

    #[tokio::test]
    async fn a_full_budget_evicts_the_oldest_and_a_dropped_ticket_frees_its_place() {
        let b = PreAuthBudget::new(2);
        let (mut t1, e1) = b.admit();
        let (mut t2, e2) = b.admit();
        assert!(!e1 && !e2);
        assert_eq!(b.waiting(), 2);
        let (mut t3, e3) = b.admit();
        assert!(e3);
        assert!(is_evicted(&mut t1).await);
        assert!(!is_evicted(&mut t2).await && !is_evicted(&mut t3).await);
        assert_eq!(b.waiting(), 2);
        // The evicted one's drop removes nothing else; t2 authenticating frees a place.
        drop(t1);
        drop(t2);
        assert_eq!(b.waiting(), 1);
        let (mut t4, e4) = b.admit();
        assert!(!e4);
        assert!(!is_evicted(&mut t3).await && !is_evicted(&mut t4).await);
        assert_eq!(b.waiting(), 2);
    }

    #[tokio::test]
    async fn a_flood_never_holds_more_than_the_budget() {
        let b = PreAuthBudget::new(8);
        let mut flood: Vec<Ticket> = (0..100).map(|_| b.admit().0).collect();
        assert_eq!(b.waiting(), 8);
        let (mut slave, evicted) = b.admit();
        assert!(evicted);
        assert!(!is_evicted(&mut slave).await);
        let mut evicted = 0;
        for t in &mut flood {
            evicted += usize::from(is_evicted(t).await);
        }
        assert_eq!(evicted, 93);
    }
}
