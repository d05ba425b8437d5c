//! Serves a fake Jira Cloud, a fake Jira Data Center and a fake Confluence Cloud with a few
//! seeded issues and pages, for trying TeamContext's integrations by hand (start the server with
//! `OUTBOUND_ALLOWED_HOSTS=127.0.0.1`). Stops on Ctrl-C.
//!
//! `cargo run -p fake-atlassian --example serve`

use fake_atlassian::{CLOUD_EMAIL, CLOUD_TOKEN, DC_TOKEN, FakeConfluence, FakeJira, Flavour};

#[tokio::main]
async fn main() {
    let cloud = FakeJira::start(Flavour::Cloud).await;
    cloud.seed("OPS", 25, 3);
    cloud.comment(
        "OPS-4",
        "Rui Costa",
        "Rotating the Stripe signing secret requires restarting the webhook workers.",
    );
    let dc = FakeJira::start(Flavour::DataCenter).await;
    dc.seed("PAY", 10, 2);
    let wiki = FakeConfluence::start(Flavour::Cloud).await;
    let root = wiki.page("ENG", "Engineering Handbook", None, "How the engineering team works.");
    wiki.page("ENG", "Deploys", Some(root), "Deployments go out every weekday at 14:00 UTC.");
    println!(
        "Jira Cloud:        {} (cloud_api_token: email {CLOUD_EMAIL}, api_token {CLOUD_TOKEN})",
        cloud.url()
    );
    println!("Jira Data Center:  {} (datacenter: personal_access_token {DC_TOKEN})", dc.url());
    println!("Confluence Cloud:  {} (cloud_api_token, as Jira Cloud)", wiki.url());
    tokio::signal::ctrl_c().await.expect("waiting for Ctrl-C");
}
