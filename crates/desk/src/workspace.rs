//! The agent workspace's helpers. Macros (canned responses): supervisors write them, every
//! agent inserts them into replies, filled in for the complaint and in the player's language.
//! Presence: who else has a complaint open, and whether they are writing to the player.

use crate::{Desk, DeskError, Result};
use ombuds_core::macros::{Macro, MacroDraft, MacroValues};
use ombuds_core::*;
use uuid::Uuid;

impl Desk {
    /// Every macro, by title (any signed-in agent or token may read them).
    pub async fn macros(&self) -> Result<Vec<Macro>> {
        Ok(self.store.macros().await?)
    }

    /// The macros offered on `complaint`, each filled in for it in the player's language (or
    /// the nearest one the macro has): `(macro, text)`.
    pub async fn macros_for(&self, complaint: &Complaint, player: Option<&PersonName>, agent: &Agent) -> Result<Vec<(Macro, String)>> {
        let departments = self.departments().await?;
        let department = complaint
            .department
            .as_ref()
            .map(|d| departments.iter().find(|x| &x.code == d).map_or_else(|| d.as_str().to_string(), |x| x.name(complaint.language).to_string()))
            .unwrap_or_default();
        let values = MacroValues {
            reference: complaint.reference.to_string(),
            player: player.map(|p| p.as_str().to_string()).unwrap_or_default(),
            agent: agent.name.as_str().to_string(),
            department,
        };
        Ok(self
            .macros()
            .await?
            .into_iter()
            .filter(|m| m.applies_to(complaint.department.as_ref()))
            .map(|m| {
                let text = m.render(complaint.language, &values);
                (m, text)
            })
            .collect())
    }

    /// Creates or updates a macro (supervisors and administrators).
    pub async fn save_macro(&self, who: &Principal, draft: MacroDraft) -> Result<Macro> {
        who.require_supervisor()?;
        let existing = match draft.id {
            Some(id) => Some(self.store.macros().await?.into_iter().find(|m| m.id == id).ok_or(DeskError::NotFound("macro"))?),
            None => None,
        };
        let departments = self.departments().await?;
        let m = draft.parse(now(), existing.as_ref(), |d| departments.iter().any(|x| &x.code == d))?;
        self.store.save_macro(&m).await?;
        tracing::info!(id = %m.id, title = %m.title, "macro saved");
        Ok(m)
    }

    /// Deletes a macro (supervisors and administrators).
    pub async fn delete_macro(&self, who: &Principal, id: Uuid) -> Result<()> {
        who.require_supervisor()?;
        self.store.delete_macro(id).await.map_err(|e| match e {
            ombuds_store::StoreError::NotFound => DeskError::NotFound("macro"),
            e => e.into(),
        })
    }
}

/// How long a page's beat counts: pages beat every few seconds.
const PRESENCE_TTL: jiff::SignedDuration = jiff::SignedDuration::from_secs(30);

impl Desk {
    /// The agent is on the complaint's page doing `state`; answers the other agents there
    /// (seen in the last half minute) and what they do, so the page can warn of a collision.
    pub async fn presence(&self, who: &Principal, reference: &ComplaintRef, state: Presence) -> Result<Vec<(Agent, Presence)>> {
        let Principal::Agent(me) = who else {
            return Err(DomainError::Forbidden("only agents are present on a page".into()).into());
        };
        let c = self.visible(who, reference).await?;
        let now = now();
        self.store.beat_presence(c.id, me.id, state, now).await?;
        let here = self.store.presence(c.id, now - PRESENCE_TTL).await?;
        // Most beats find nobody else: only the others present are read, one by one.
        let mut others = vec![];
        for (id, state) in here.into_iter().filter(|(id, _)| *id != me.id) {
            match self.store.agent(id).await {
                Ok(a) => others.push((a, state)),
                Err(ombuds_store::StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(others)
    }
}
