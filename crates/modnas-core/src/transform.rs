//! The Transform routine: update events and their handlers (paper §3.3, Algorithm 4).
//!
//! When the optimizer proposes new values, every parameter whose value changed raises an update
//! event. Handlers watch one parameter or a condition over several (any-of / all-of) and rewire the
//! model. They run in priority order: a higher explicit priority first, then — at equal priority —
//! the condition that covers **more** parameters first, then registration order. A handler may
//! *consume* its events: narrower handlers whose updated parameters were all consumed are then
//! skipped, so a global transformation overrides the local ones triggered at the same time.
//!
//! Handlers may set other parameters (the new events are dispatched in a following round) and add
//! or remove handlers; both take effect after the current round, so dispatch is re-entrant.
//!
//! ```
//! use modnas_core::param::{Assignment, Domain, ParamSpace, ParamValue, Value};
//! use modnas_core::transform::{Transform, Trigger};
//! use std::sync::{Arc, Mutex};
//!
//! let mut space = ParamSpace::new();
//! space.add("kernel", Domain::Categorical { choices: vec![Value::Int(3), Value::Int(5)] }).unwrap();
//! let built = Arc::new(Mutex::new(String::new()));
//! let mut t = Transform::new();
//! let b = built.clone();
//! t.on(Trigger::param("kernel"), 0, move |u| {
//!     *b.lock().unwrap() = format!("conv{}", u.rendered("kernel").unwrap());
//!     Ok(())
//! });
//! let mut current = Assignment(vec![ParamValue::Choice(0)]);
//! t.update(&space, &mut current, &Assignment(vec![ParamValue::Choice(1)])).unwrap();
//! assert_eq!(*built.lock().unwrap(), "conv5");
//! ```

use crate::param::{Assignment, ParamSpace, ParamValue, Value};
use std::collections::BTreeSet;

/// The condition that makes a handler fire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// One parameter was updated.
    On(String),
    /// Any of these parameters was updated.
    AnyOf(Vec<String>),
    /// All of these parameters were updated in the same round.
    AllOf(Vec<String>),
}

impl Trigger {
    /// A trigger on one parameter.
    pub fn param(name: impl Into<String>) -> Self {
        Trigger::On(name.into())
    }

    /// A trigger on any of several parameters.
    pub fn any_of<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Trigger::AnyOf(names.into_iter().map(Into::into).collect())
    }

    /// A trigger on all of several parameters.
    pub fn all_of<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Trigger::AllOf(names.into_iter().map(Into::into).collect())
    }

    /// The parameters the condition covers.
    pub fn params(&self) -> &[String] {
        match self {
            Trigger::On(p) => std::slice::from_ref(p),
            Trigger::AnyOf(v) | Trigger::AllOf(v) => v,
        }
    }

    /// Whether the condition holds for the set of updated parameters.
    pub fn fires(&self, updated: &BTreeSet<String>) -> bool {
        match self {
            Trigger::On(p) => updated.contains(p),
            Trigger::AnyOf(v) => v.iter().any(|p| updated.contains(p)),
            Trigger::AllOf(v) => !v.is_empty() && v.iter().all(|p| updated.contains(p)),
        }
    }
}

/// Identifies a registered handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandlerId(u64);

/// Errors of the Transform routine.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// A handler reported a failure.
    #[error("transform handler for {trigger:?} failed: {message}")]
    Handler {
        /// The handler's trigger.
        trigger: Trigger,
        /// Its message.
        message: String,
    },
    /// A handler set a parameter the space does not have, or to an invalid value.
    #[error("a handler set parameter `{name}`: {reason}")]
    BadSet {
        /// Parameter name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Handlers kept changing parameters.
    #[error(
        "handlers kept updating parameters for {rounds} rounds (last: {params:?}); is there a cycle?"
    )]
    Cycle {
        /// Rounds run.
        rounds: usize,
        /// Parameters still changing.
        params: Vec<String>,
    },
}

type HandlerFn = Box<dyn FnMut(&mut Update<'_>) -> Result<(), String> + Send>;

struct Entry {
    id: HandlerId,
    trigger: Trigger,
    priority: i32,
    consumes: bool,
    f: HandlerFn,
}

#[derive(Default)]
struct Requests {
    sets: Vec<(String, ParamValue)>,
    adds: Vec<(HandlerId, Trigger, i32, bool, HandlerFn)>,
    removes: Vec<HandlerId>,
}

/// What a handler sees: the space, the current values and which parameters were updated.
pub struct Update<'a> {
    space: &'a ParamSpace,
    values: &'a Assignment,
    updated: &'a BTreeSet<String>,
    round: usize,
    requests: &'a mut Requests,
    next_id: &'a mut u64,
}

impl Update<'_> {
    /// The space.
    pub fn space(&self) -> &ParamSpace {
        self.space
    }

    /// All current values.
    pub fn values(&self) -> &Assignment {
        self.values
    }

    /// The parameters updated in this round.
    pub fn updated(&self) -> &BTreeSet<String> {
        self.updated
    }

    /// The round (0 for the optimizer's own update, 1+ for updates made by handlers).
    pub fn round(&self) -> usize {
        self.round
    }

    /// The current value of parameter `name`.
    pub fn value(&self, name: &str) -> Option<ParamValue> {
        self.values.get_named(self.space, name)
    }

    /// The current value of parameter `name` rendered as its choice / number.
    pub fn rendered(&self, name: &str) -> Option<Value> {
        let i = self.space.position(name)?;
        Some(self.space.params()[i].domain.render(self.values.get(i)?))
    }

    /// Sets another parameter; its update event is dispatched in the next round.
    pub fn set(&mut self, name: &str, value: ParamValue) {
        self.requests.sets.push((name.to_string(), value));
    }

    /// Registers a handler; it takes part from the next round on.
    pub fn add_handler(
        &mut self,
        trigger: Trigger,
        priority: i32,
        f: impl FnMut(&mut Update<'_>) -> Result<(), String> + Send + 'static,
    ) -> HandlerId {
        let id = HandlerId(*self.next_id);
        *self.next_id += 1;
        self.requests
            .adds
            .push((id, trigger, priority, false, Box::new(f)));
        id
    }

    /// Removes a handler after the current round.
    pub fn remove_handler(&mut self, id: HandlerId) {
        self.requests.removes.push(id);
    }
}

/// Which handlers ran, in order, during one transform.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TransformReport {
    /// `(round, handler)` in invocation order.
    pub invoked: Vec<(usize, HandlerId)>,
    /// Handlers skipped because broader handlers consumed their events.
    pub skipped: Vec<(usize, HandlerId)>,
}

/// The set of handlers of one model, and the routine that dispatches update events to them.
pub struct Transform {
    handlers: Vec<Entry>,
    next_id: u64,
    max_rounds: usize,
}

impl Default for Transform {
    fn default() -> Self {
        Self::new()
    }
}

impl Transform {
    /// No handlers.
    pub fn new() -> Self {
        Self {
            handlers: Vec::new(),
            next_id: 0,
            max_rounds: 32,
        }
    }

    /// Number of registered handlers.
    pub fn len(&self) -> usize {
        self.handlers.len()
    }

    /// Whether no handler is registered.
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }

    /// Registers a handler with an explicit priority (higher runs first).
    pub fn on(
        &mut self,
        trigger: Trigger,
        priority: i32,
        f: impl FnMut(&mut Update<'_>) -> Result<(), String> + Send + 'static,
    ) -> HandlerId {
        self.push(trigger, priority, false, Box::new(f))
    }

    /// Registers a handler that consumes its events: narrower handlers on the same updates are
    /// skipped once it has run.
    pub fn on_consuming(
        &mut self,
        trigger: Trigger,
        priority: i32,
        f: impl FnMut(&mut Update<'_>) -> Result<(), String> + Send + 'static,
    ) -> HandlerId {
        self.push(trigger, priority, true, Box::new(f))
    }

    fn push(&mut self, trigger: Trigger, priority: i32, consumes: bool, f: HandlerFn) -> HandlerId {
        let id = HandlerId(self.next_id);
        self.next_id += 1;
        self.handlers.push(Entry {
            id,
            trigger,
            priority,
            consumes,
            f,
        });
        id
    }

    /// Removes a handler; returns whether it was registered.
    pub fn off(&mut self, id: HandlerId) -> bool {
        let before = self.handlers.len();
        self.handlers.retain(|e| e.id != id);
        before != self.handlers.len()
    }

    /// Moves `current` to `new` and dispatches an update event for every parameter whose value
    /// changed.
    pub fn update(
        &mut self,
        space: &ParamSpace,
        current: &mut Assignment,
        new: &Assignment,
    ) -> Result<TransformReport, TransformError> {
        let changed: Vec<String> = space
            .params()
            .iter()
            .enumerate()
            .filter(|(i, _)| current.get(*i) != new.get(*i))
            .map(|(_, p)| p.name.clone())
            .collect();
        *current = new.clone();
        self.dispatch(space, current, changed)
    }

    /// Dispatches update events for `updated` (every parameter of the space when first applying
    /// an assignment), running the handlers whose conditions hold.
    pub fn dispatch(
        &mut self,
        space: &ParamSpace,
        values: &mut Assignment,
        updated: impl IntoIterator<Item = String>,
    ) -> Result<TransformReport, TransformError> {
        let mut report = TransformReport::default();
        let mut updated: BTreeSet<String> = updated.into_iter().collect();
        let mut round = 0;
        while !updated.is_empty() {
            if round >= self.max_rounds {
                return Err(TransformError::Cycle {
                    rounds: round,
                    params: updated.into_iter().collect(),
                });
            }
            let mut order: Vec<usize> = (0..self.handlers.len())
                .filter(|&i| self.handlers[i].trigger.fires(&updated))
                .collect();
            order.sort_by(|&a, &b| {
                let (ea, eb) = (&self.handlers[a], &self.handlers[b]);
                eb.priority
                    .cmp(&ea.priority)
                    .then(eb.trigger.params().len().cmp(&ea.trigger.params().len()))
                    .then(ea.id.cmp(&eb.id))
            });
            let mut requests = Requests::default();
            let mut consumed: BTreeSet<String> = BTreeSet::new();
            for i in order {
                let entry = &mut self.handlers[i];
                let mine: Vec<&String> = entry
                    .trigger
                    .params()
                    .iter()
                    .filter(|p| updated.contains(*p))
                    .collect();
                if !consumed.is_empty() && mine.iter().all(|p| consumed.contains(*p)) {
                    report.skipped.push((round, entry.id));
                    continue;
                }
                let mut u = Update {
                    space,
                    values,
                    updated: &updated,
                    round,
                    requests: &mut requests,
                    next_id: &mut self.next_id,
                };
                (entry.f)(&mut u).map_err(|message| TransformError::Handler {
                    trigger: entry.trigger.clone(),
                    message,
                })?;
                report.invoked.push((round, entry.id));
                if entry.consumes {
                    consumed.extend(mine.into_iter().cloned());
                }
            }
            let Requests {
                sets,
                adds,
                removes,
            } = requests;
            for id in removes {
                self.handlers.retain(|e| e.id != id);
            }
            for (id, trigger, priority, consumes, f) in adds {
                self.handlers.push(Entry {
                    id,
                    trigger,
                    priority,
                    consumes,
                    f,
                });
            }
            let mut next = BTreeSet::new();
            for (name, v) in sets {
                let pos = space
                    .position(&name)
                    .ok_or_else(|| TransformError::BadSet {
                        name: name.clone(),
                        reason: "no such parameter".into(),
                    })?;
                let domain = &space.params()[pos].domain;
                if !domain.contains(&v) {
                    return Err(TransformError::BadSet {
                        name,
                        reason: format!("{v:?} is not {}", domain.describe()),
                    });
                }
                if values.0[pos] != v {
                    values.0[pos] = v;
                    next.insert(name);
                }
            }
            updated = next;
            round += 1;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::param::Domain;
    use std::sync::{Arc, Mutex};

    fn space(n: usize) -> ParamSpace {
        let mut s = ParamSpace::new();
        for i in 0..n {
            s.add(
                &format!("p{i}"),
                Domain::Categorical {
                    choices: vec![Value::Int(0), Value::Int(1), Value::Int(2)],
                },
            )
            .unwrap();
        }
        s
    }

    type Log = Arc<Mutex<Vec<String>>>;

    fn logger(
        log: &Log,
        tag: &str,
    ) -> impl FnMut(&mut Update<'_>) -> Result<(), String> + Send + 'static {
        let log = log.clone();
        let tag = tag.to_string();
        move |_| {
            log.lock().unwrap().push(tag.clone());
            Ok(())
        }
    }

    fn all_zero(n: usize) -> Assignment {
        Assignment(vec![ParamValue::Choice(0); n])
    }

    #[test]
    fn priority_then_coverage_then_registration() {
        let s = space(3);
        let log: Log = Arc::default();
        let mut t = Transform::new();
        t.on(Trigger::param("p0"), 0, logger(&log, "local-p0"));
        t.on(
            Trigger::any_of(["p0", "p1", "p2"]),
            0,
            logger(&log, "global"),
        );
        t.on(Trigger::any_of(["p0", "p1"]), 0, logger(&log, "pair"));
        t.on(Trigger::param("p0"), 5, logger(&log, "urgent"));
        t.on(Trigger::param("p0"), 0, logger(&log, "local-p0-second"));
        let mut cur = all_zero(3);
        let new = Assignment(vec![
            ParamValue::Choice(1),
            ParamValue::Choice(0),
            ParamValue::Choice(0),
        ]);
        t.update(&s, &mut cur, &new).unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            vec!["urgent", "global", "pair", "local-p0", "local-p0-second"]
        );
    }

    #[test]
    fn only_changed_parameters_raise_events() {
        let s = space(2);
        let log: Log = Arc::default();
        let mut t = Transform::new();
        t.on(Trigger::param("p0"), 0, logger(&log, "p0"));
        t.on(Trigger::param("p1"), 0, logger(&log, "p1"));
        let mut cur = all_zero(2);
        let new = Assignment(vec![ParamValue::Choice(0), ParamValue::Choice(2)]);
        t.update(&s, &mut cur, &new).unwrap();
        assert_eq!(*log.lock().unwrap(), vec!["p1"]);
        assert_eq!(cur, new);
        // Same values again: nothing fires.
        t.update(&s, &mut cur, &new).unwrap();
        assert_eq!(log.lock().unwrap().len(), 1);
    }

    #[test]
    fn any_of_and_all_of() {
        let s = space(3);
        let log: Log = Arc::default();
        let mut t = Transform::new();
        t.on(Trigger::any_of(["p0", "p1"]), 0, logger(&log, "any"));
        t.on(Trigger::all_of(["p0", "p1"]), 0, logger(&log, "all"));
        let mut cur = all_zero(3);
        t.update(
            &s,
            &mut cur,
            &Assignment(vec![
                ParamValue::Choice(1),
                ParamValue::Choice(0),
                ParamValue::Choice(0),
            ]),
        )
        .unwrap();
        assert_eq!(*log.lock().unwrap(), vec!["any"]);
        log.lock().unwrap().clear();
        t.update(
            &s,
            &mut cur,
            &Assignment(vec![
                ParamValue::Choice(2),
                ParamValue::Choice(1),
                ParamValue::Choice(0),
            ]),
        )
        .unwrap();
        assert_eq!(*log.lock().unwrap(), vec!["any", "all"]);
        log.lock().unwrap().clear();
        t.update(
            &s,
            &mut cur,
            &Assignment(vec![
                ParamValue::Choice(2),
                ParamValue::Choice(1),
                ParamValue::Choice(1),
            ]),
        )
        .unwrap();
        assert!(log.lock().unwrap().is_empty());
    }

    #[test]
    fn consuming_global_handler_overrides_local_ones() {
        let s = space(3);
        let log: Log = Arc::default();
        let mut t = Transform::new();
        let local = t.on(Trigger::param("p0"), 0, logger(&log, "local-p0"));
        t.on(Trigger::param("p2"), 0, logger(&log, "local-p2"));
        t.on_consuming(Trigger::any_of(["p0", "p1"]), 0, logger(&log, "rebuild"));
        let mut cur = all_zero(3);
        let r = t
            .update(
                &s,
                &mut cur,
                &Assignment(vec![
                    ParamValue::Choice(1),
                    ParamValue::Choice(0),
                    ParamValue::Choice(1),
                ]),
            )
            .unwrap();
        assert_eq!(*log.lock().unwrap(), vec!["rebuild", "local-p2"]);
        assert_eq!(r.skipped, vec![(0, local)]);
    }

    #[test]
    fn handlers_can_set_parameters_reentrantly() {
        let s = space(2);
        let log: Log = Arc::default();
        let mut t = Transform::new();
        // Coupling: p1 follows p0.
        t.on(Trigger::param("p0"), 0, |u| {
            let v = u.value("p0").unwrap();
            u.set("p1", v);
            Ok(())
        });
        let l = log.clone();
        t.on(Trigger::param("p1"), 0, move |u| {
            l.lock().unwrap().push(format!(
                "p1={} round {}",
                u.rendered("p1").unwrap(),
                u.round()
            ));
            Ok(())
        });
        let mut cur = all_zero(2);
        let r = t
            .update(
                &s,
                &mut cur,
                &Assignment(vec![ParamValue::Choice(2), ParamValue::Choice(0)]),
            )
            .unwrap();
        assert_eq!(
            cur.values(),
            &[ParamValue::Choice(2), ParamValue::Choice(2)]
        );
        assert_eq!(*log.lock().unwrap(), vec!["p1=2 round 1"]);
        assert_eq!(r.invoked.len(), 2);
    }

    #[test]
    fn handlers_can_add_and_remove_handlers_during_dispatch() {
        let s = space(1);
        let log: Log = Arc::default();
        let mut t = Transform::new();
        let victim = t.on(Trigger::param("p0"), -1, logger(&log, "victim"));
        let l = log.clone();
        let mut added = false;
        t.on(Trigger::param("p0"), 0, move |u| {
            l.lock().unwrap().push("adder".into());
            if !added {
                added = true;
                u.add_handler(Trigger::param("p0"), 0, {
                    let l = l.clone();
                    move |_| {
                        l.lock().unwrap().push("added".into());
                        Ok(())
                    }
                });
                u.remove_handler(victim);
            }
            Ok(())
        });
        let mut cur = all_zero(1);
        t.update(&s, &mut cur, &Assignment(vec![ParamValue::Choice(1)]))
            .unwrap();
        // Changes to the handler set take effect after the round: the victim still ran.
        assert_eq!(*log.lock().unwrap(), vec!["adder", "victim"]);
        log.lock().unwrap().clear();
        t.update(&s, &mut cur, &Assignment(vec![ParamValue::Choice(2)]))
            .unwrap();
        assert_eq!(*log.lock().unwrap(), vec!["adder", "added"]);
        assert!(!t.off(victim));
    }

    #[test]
    fn cycles_are_reported() {
        let s = space(1);
        let mut t = Transform::new();
        t.on(Trigger::param("p0"), 0, |u| {
            let next = match u.value("p0").unwrap() {
                ParamValue::Choice(i) => (i + 1) % 3,
                _ => 0,
            };
            u.set("p0", ParamValue::Choice(next));
            Ok(())
        });
        let mut cur = all_zero(1);
        let e = t
            .update(&s, &mut cur, &Assignment(vec![ParamValue::Choice(1)]))
            .unwrap_err();
        assert!(matches!(e, TransformError::Cycle { .. }), "{e}");
    }

    #[test]
    fn handler_errors_and_bad_sets_are_reported() {
        let s = space(1);
        let mut t = Transform::new();
        t.on(Trigger::param("p0"), 0, |_| Err("out of memory".into()));
        let mut cur = all_zero(1);
        let e = t
            .update(&s, &mut cur, &Assignment(vec![ParamValue::Choice(1)]))
            .unwrap_err();
        assert!(e.to_string().contains("out of memory"));
        let mut t = Transform::new();
        t.on(Trigger::param("p0"), 0, |u| {
            u.set("nope", ParamValue::Choice(0));
            Ok(())
        });
        let e = t
            .update(&s, &mut cur, &Assignment(vec![ParamValue::Choice(2)]))
            .unwrap_err();
        assert!(e.to_string().contains("nope"));
    }
}
