//! Conformance scenarios: team tasks and Jira story drafts.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use tc_store::*;
use uuid::Uuid;

use crate::fixtures::*;

/// This area's scenarios, listed beside them; `conformance_suite!` runs every area's list.
#[doc(hidden)]
#[macro_export]
macro_rules! tasks_scenarios {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make; tasks;
            tasks_round_trip_and_filter_by_scope_status_assignee_tag_and_due_date,
            story_drafts_round_trip_change_only_from_the_version_read_and_follow_their_task,
        );
    };
}

fn task(project_id: Option<Uuid>, created_by: Uuid, title: &str) -> TaskRecord {
    TaskRecord {
        id: Uuid::now_v7(),
        project_id,
        title: title.into(),
        description: "**Steps**: rotate, then restart.".into(),
        status: "todo".into(),
        priority: "medium".into(),
        assignee_id: None,
        due_date: None,
        tags: Vec::new(),
        context_ids: Vec::new(),
        jira_keys: Vec::new(),
        created_by,
        updated_by: created_by,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn titles(tasks: Vec<TaskRecord>) -> Vec<String> {
    tasks.into_iter().map(|t| t.title).collect()
}

pub async fn tasks_round_trip_and_filter_by_scope_status_assignee_tag_and_due_date<S: Store>(
    s: Arc<S>,
) {
    let (ana, bo) = (user("tasks-ana@example.com"), user("tasks-bo@example.com"));
    s.insert_user(&ana).await.unwrap();
    s.insert_user(&bo).await.unwrap();
    let p = project(ana.id, "ops");
    s.insert_project(&p).await.unwrap();
    let other = project(bo.id, "bo's");
    s.insert_project(&other).await.unwrap();

    let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
    let rotate = TaskRecord {
        assignee_id: Some(bo.id),
        due_date: Some(day(4)),
        tags: vec!["security".into(), "stripe".into()],
        context_ids: vec![Uuid::now_v7()],
        jira_keys: vec!["OPS-12".into()],
        priority: "high".into(),
        ..task(Some(p.id), ana.id, "Rotate the Stripe keys")
    };
    s.insert_task(&rotate).await.unwrap();
    let docs = TaskRecord { due_date: Some(day(20)), ..task(Some(p.id), ana.id, "Write docs") };
    s.insert_task(&docs).await.unwrap();
    let mine = task(None, ana.id, "Call the bank");
    s.insert_task(&mine).await.unwrap();
    s.insert_task(&task(None, bo.id, "Bo's own")).await.unwrap();
    s.insert_task(&task(Some(other.id), bo.id, "Elsewhere")).await.unwrap();

    assert_eq!(s.task(rotate.id).await.unwrap().unwrap(), rotate, "every field round-trips");
    assert!(s.task(Uuid::now_v7()).await.unwrap().is_none());

    let page = Page { before: None, limit: 50 };
    let scope =
        TaskFilter { project_ids: vec![p.id], personal_of: Some(ana.id), ..Default::default() };
    assert_eq!(
        titles(s.list_tasks(&scope, page).await.unwrap()),
        ["Call the bank", "Write docs", "Rotate the Stripe keys"],
        "newest first; neither bo's own nor another project's"
    );
    let only = |f: TaskFilter| {
        let s = s.clone();
        async move { titles(s.list_tasks(&f, page).await.unwrap()) }
    };
    assert_eq!(
        only(TaskFilter { assignee_id: Some(bo.id), ..scope.clone() }).await,
        ["Rotate the Stripe keys"]
    );
    assert_eq!(
        only(TaskFilter { tag: Some("stripe".into()), ..scope.clone() }).await,
        ["Rotate the Stripe keys"]
    );
    assert!(only(TaskFilter { tag: Some("strip".into()), ..scope.clone() }).await.is_empty());
    assert_eq!(
        only(TaskFilter { due_before: Some(day(5)), ..scope.clone() }).await,
        ["Rotate the Stripe keys"]
    );
    assert_eq!(
        only(TaskFilter { personal_of: None, ..scope.clone() }).await,
        ["Write docs", "Rotate the Stripe keys"]
    );
    assert!(only(TaskFilter::default()).await.is_empty(), "no scope, nothing");

    // Pages continue below the last id seen.
    let first = s.list_tasks(&scope, Page { before: None, limit: 2 }).await.unwrap();
    let rest = s.list_tasks(&scope, Page { before: Some(first[1].id), limit: 2 }).await.unwrap();
    assert_eq!(titles(rest), ["Rotate the Stripe keys"]);

    // An update replaces the fields; a status filter sees it.
    let done = TaskRecord {
        status: "done".into(),
        tags: Vec::new(),
        due_date: None,
        updated_by: bo.id,
        updated_at: t0() + Duration::hours(2),
        ..rotate.clone()
    };
    s.update_task(&done).await.unwrap();
    assert_eq!(s.task(rotate.id).await.unwrap().unwrap(), done);
    assert_eq!(
        only(TaskFilter { status: Some("done".into()), ..scope.clone() }).await,
        ["Rotate the Stripe keys"]
    );
    let gone = task(None, ana.id, "never stored");
    assert!(matches!(s.update_task(&gone).await, Err(StoreError::NotFound)));

    assert!(s.delete_task(docs.id).await.unwrap());
    assert!(!s.delete_task(docs.id).await.unwrap());
    assert_eq!(only(scope.clone()).await, ["Call the bank", "Rotate the Stripe keys"]);
}

fn draft(project_id: Uuid, created_by: Uuid, summary: &str) -> StoryDraftRecord {
    let story = serde_json::json!({"format": "story", "summary": summary});
    StoryDraftRecord {
        id: Uuid::now_v7(),
        project_id,
        created_by,
        task_id: None,
        jira_project_key: Some("OPS".into()),
        parent_key: None,
        requirements: "Rotate the keys every 90 days.".into(),
        story: story.clone(),
        sources: serde_json::json!([{"n": 1, "title": "ADR 7"}]),
        revisions: serde_json::json!([{"n": 1, "kind": "draft", "story": story}]),
        status: "draft".into(),
        create_marker: None,
        jira_key: None,
        jira_url: None,
        last_error: None,
        version: 1,
        created_at: t0(),
        updated_at: t0(),
    }
}

pub async fn story_drafts_round_trip_change_only_from_the_version_read_and_follow_their_task<
    S: Store,
>(
    s: Arc<S>,
) {
    let ana = user("stories-ana@example.com");
    s.insert_user(&ana).await.unwrap();
    let p = project(ana.id, "ops");
    s.insert_project(&p).await.unwrap();
    let other = project(ana.id, "web");
    s.insert_project(&other).await.unwrap();
    let t = task(Some(p.id), ana.id, "Rotate the keys");
    s.insert_task(&t).await.unwrap();

    let first = StoryDraftRecord { task_id: Some(t.id), ..draft(p.id, ana.id, "first") };
    s.insert_story_draft(&first).await.unwrap();
    let second = draft(p.id, ana.id, "second");
    s.insert_story_draft(&second).await.unwrap();
    let elsewhere = draft(other.id, ana.id, "elsewhere");
    s.insert_story_draft(&elsewhere).await.unwrap();
    assert_eq!(s.story_draft(first.id).await.unwrap().unwrap(), first, "every field round-trips");
    assert!(s.story_draft(Uuid::now_v7()).await.unwrap().is_none());

    let page = Page { before: None, limit: 10 };
    let ids = |v: Vec<StoryDraftRecord>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_story_drafts(&[p.id], page).await.unwrap()), [second.id, first.id]);
    assert_eq!(
        ids(s
            .list_story_drafts(&[p.id], Page { before: Some(second.id), limit: 10 })
            .await
            .unwrap()),
        [first.id]
    );
    assert_eq!(s.list_story_drafts(&[p.id, other.id], page).await.unwrap().len(), 3);
    assert!(s.list_story_drafts(&[], page).await.unwrap().is_empty());

    // A change lands only on the version it was made from: of two racing, one wins.
    let created = StoryDraftRecord {
        status: "created".into(),
        create_marker: Some("teamcontext-draft-1".into()),
        jira_key: Some("OPS-7".into()),
        jira_url: Some("https://jira.example.com/browse/OPS-7".into()),
        last_error: Some("a timeout, then found".into()),
        story: serde_json::json!({"format": "story", "summary": "first, refined"}),
        version: 2,
        updated_at: t0() + Duration::minutes(5),
        ..first.clone()
    };
    assert!(s.update_story_draft(&created, 1).await.unwrap());
    assert!(
        !s.update_story_draft(&StoryDraftRecord { version: 2, ..first.clone() }, 1).await.unwrap()
    );
    assert_eq!(s.story_draft(first.id).await.unwrap().unwrap(), created);
    assert!(!s.update_story_draft(&draft(p.id, ana.id, "never stored"), 0).await.unwrap());

    // Deleting the task unlinks it; deleting the project takes its drafts.
    assert!(s.delete_task(t.id).await.unwrap());
    assert_eq!(s.story_draft(first.id).await.unwrap().unwrap().task_id, None);
    assert!(s.delete_story_draft(second.id).await.unwrap());
    assert!(!s.delete_story_draft(second.id).await.unwrap());
    s.set_project_deleted(other.id, Some(t0()), t0()).await.unwrap();
    s.purge_deleted_projects(t0() + Duration::days(60)).await.unwrap();
    assert!(s.story_draft(elsewhere.id).await.unwrap().is_none());
}
