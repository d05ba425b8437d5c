//! Conformance scenarios: AI chat sessions and their messages.

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;
use tc_store::*;
use uuid::Uuid;

use crate::fixtures::*;

/// This area's scenarios, listed beside them; `conformance_suite!` runs every area's list.
#[doc(hidden)]
#[macro_export]
macro_rules! chat_scenarios {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make; chat;
            chat_messages_append_in_order_and_page_back,
            chat_sessions_list_by_activity_and_delete_with_messages,
            concurrent_chat_appends_get_distinct_positions,
        );
    };
}

fn session(user_id: Uuid, project_id: Option<Uuid>, minutes: i64) -> ChatSessionRecord {
    ChatSessionRecord {
        id: Uuid::now_v7(),
        user_id,
        project_id,
        title: String::new(),
        created_at: t0() + Duration::minutes(minutes),
        updated_at: t0() + Duration::minutes(minutes),
    }
}

fn message(session_id: Uuid, role: &str, content: &str, minutes: i64) -> ChatMessageRecord {
    ChatMessageRecord {
        id: Uuid::now_v7(),
        session_id,
        seq: 0,
        role: role.into(),
        content: content.into(),
        mode: (role == "assistant").then(|| "llm".to_string()),
        status: "complete".into(),
        finish_reason: (role == "assistant").then(|| "stop".to_string()),
        model: (role == "assistant").then(|| "small-model".to_string()),
        prompt_tokens: (role == "assistant").then_some(120),
        completion_tokens: (role == "assistant").then_some(9),
        sources: json!([{"n": 1, "context_id": Uuid::nil(), "title": "Deploys", "score": 0.5}]),
        error: None,
        created_at: t0() + Duration::minutes(minutes),
        tool_calls: Vec::new(),
    }
}

fn tool_call(name: &str, result: Option<serde_json::Value>, minutes: i64) -> ChatToolCallRecord {
    ChatToolCallRecord {
        id: Uuid::now_v7(),
        call_id: format!("call_{name}"),
        name: name.into(),
        server: (name == "lookup").then(|| "wiki".to_string()),
        arguments: json!({"query": "deploy days", "limit": 3}),
        error: result.is_none().then(|| "project not found".to_string()),
        result,
        writes: name == "save_to_context",
        duration_ms: 42,
        created_at: t0() + Duration::minutes(minutes),
    }
}

fn page(before: Option<Uuid>, limit: u32) -> Page {
    Page { before, limit }
}

pub async fn chat_messages_append_in_order_and_page_back<S: Store>(s: Arc<S>) {
    let u = user("chat@example.com");
    s.insert_user(&u).await.unwrap();
    let p = project(u.id, "chat");
    s.insert_project(&p).await.unwrap();
    let chat = session(u.id, Some(p.id), 0);
    s.insert_chat_session(&chat).await.unwrap();
    assert_eq!(s.chat_session(chat.id).await.unwrap().unwrap(), chat);
    assert!(s.chat_session(Uuid::now_v7()).await.unwrap().is_none());

    let question = message(chat.id, "user", "When do we deploy?", 1);
    assert_eq!(s.append_chat_message(&question, Some("When do we deploy?")).await.unwrap(), 1);
    let answer = ChatMessageRecord {
        tool_calls: vec![
            tool_call("get_relevant_context", Some(json!({"results": [{"score": 0.8}]})), 2),
            tool_call("lookup", None, 2),
            tool_call("save_to_context", Some(json!({"id": Uuid::nil()})), 2),
        ],
        ..message(chat.id, "assistant", "On Tuesdays [1].", 2)
    };
    assert_eq!(s.append_chat_message(&answer, Some("ignored: already named")).await.unwrap(), 2);
    let third = message(chat.id, "user", "And hotfixes?", 3);
    assert_eq!(s.append_chat_message(&third, None).await.unwrap(), 3);

    let stored = s.chat_session(chat.id).await.unwrap().unwrap();
    assert_eq!(stored.title, "When do we deploy?", "the first title given names it");
    assert_eq!(stored.updated_at, t0() + Duration::minutes(3), "activity follows messages");

    let latest = s.chat_messages(chat.id, page(None, 2)).await.unwrap();
    assert_eq!(latest.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![3, 2]);
    assert_eq!(latest[1], ChatMessageRecord { seq: 2, ..answer.clone() }, "tool calls in order");
    assert!(latest[0].tool_calls.is_empty());
    let older = s.chat_messages(chat.id, page(Some(latest[1].id), 2)).await.unwrap();
    assert_eq!(older, vec![ChatMessageRecord { seq: 1, ..question }]);

    // A message for a session that is gone is refused, and nothing is written.
    let orphan = message(Uuid::now_v7(), "user", "hello?", 4);
    assert!(matches!(s.append_chat_message(&orphan, None).await, Err(StoreError::NotFound)));
    // A message whose tool calls cannot be stored is not stored either.
    let broken = ChatMessageRecord {
        tool_calls: vec![answer.tool_calls[0].clone()],
        ..message(chat.id, "assistant", "half", 5)
    };
    assert!(s.append_chat_message(&broken, None).await.is_err(), "the call id is taken");
    let after = s.chat_messages(chat.id, page(None, 10)).await.unwrap();
    assert_eq!(after.len(), 3, "nothing half-written");
}

pub async fn chat_sessions_list_by_activity_and_delete_with_messages<S: Store>(s: Arc<S>) {
    let u = user("sessions@example.com");
    let other = user("other-sessions@example.com");
    s.insert_user(&u).await.unwrap();
    s.insert_user(&other).await.unwrap();
    let first = session(u.id, None, 0);
    let second = session(u.id, None, 1);
    let third = session(u.id, None, 2);
    for s_ in [&first, &second, &third, &session(other.id, None, 5)] {
        s.insert_chat_session(s_).await.unwrap();
    }
    // The oldest session is talked to last: it comes first.
    s.append_chat_message(&message(first.id, "user", "back again", 10), Some("Back"))
        .await
        .unwrap();
    let one = s.list_chat_sessions(u.id, page(None, 2)).await.unwrap();
    assert_eq!(one.iter().map(|x| x.id).collect::<Vec<_>>(), vec![first.id, third.id]);
    let two = s.list_chat_sessions(u.id, page(Some(third.id), 2)).await.unwrap();
    assert_eq!(two.iter().map(|x| x.id).collect::<Vec<_>>(), vec![second.id]);

    assert!(s.delete_chat_session(first.id).await.unwrap());
    assert!(!s.delete_chat_session(first.id).await.unwrap());
    assert!(s.chat_session(first.id).await.unwrap().is_none());
    assert!(s.chat_messages(first.id, page(None, 10)).await.unwrap().is_empty());
    assert_eq!(s.list_chat_sessions(u.id, page(None, 10)).await.unwrap().len(), 2);
}

pub async fn concurrent_chat_appends_get_distinct_positions<S: Store>(s: Arc<S>) {
    let u = user("busy-chat@example.com");
    s.insert_user(&u).await.unwrap();
    let chat = session(u.id, None, 0);
    s.insert_chat_session(&chat).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            let m = message(chat.id, "user", &format!("message {i}"), i);
            tokio::spawn(async move { s.append_chat_message(&m, None).await })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=8).collect::<Vec<i64>>());
}
