//! Exports: every product a filter matches, in id order, page by page
//! (keyset pages, so each page is an index range scan and memory holds one
//! page), for `GET /api/v1/products/export` and `catalog export`.
//!
//! An export is not a snapshot: a product written while it runs shows as
//! it was when its page was read. [`CatalogService::feed_head`], taken
//! before the export starts, is a change-feed position from which a
//! consumer replays every change the export may have missed (a change seen
//! twice is harmless: the feed's entries are whole states).

use futures::stream::{BoxStream, StreamExt};

use crate::changes::FeedStart;
use crate::error::CatalogError;
use crate::feed::encode_position;
use crate::ports::PageSpec;
use crate::product::Product;
use crate::query::{ProductFilter, SortKey, SortValue, sort_values};
use crate::service::CatalogService;

/// Products per page of an export.
pub const EXPORT_PAGE: u64 = 2_000;

impl CatalogService {
    /// The products `filter` matches, in id order, a page at a time. The
    /// next page is read while the consumer handles the current one.
    pub fn export(
        &self,
        filter: ProductFilter,
    ) -> BoxStream<'static, Result<Vec<Product>, CatalogError>> {
        let store = self.store.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<Product>, CatalogError>>(2);
        tokio::spawn(async move {
            let mut after: Option<Vec<SortValue>> = None;
            loop {
                let page = PageSpec {
                    filter: &filter,
                    sort: &[SortKey::ID],
                    after: after.as_deref(),
                    offset: 0,
                    limit: EXPORT_PAGE,
                };
                let products = match store.list(page).await {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                let last = products
                    .last()
                    .map(|p| sort_values(&[SortKey::ID], p, None));
                let full = products.len() as u64 == EXPORT_PAGE;
                if !products.is_empty() && tx.send(Ok(products)).await.is_err() {
                    // The consumer went away (a client disconnected).
                    return;
                }
                match last {
                    Some(values) if full => after = Some(values),
                    _ => return,
                }
            }
        });
        tokio_stream_from(rx)
    }

    /// The change feed's head as a `since` token, or `None` when the
    /// storage keeps no change log: take it before an export, follow the
    /// feed from it after.
    pub async fn feed_head(&self) -> Result<Option<String>, CatalogError> {
        let Some(feed) = self.store.change_feed() else {
            return Ok(None);
        };
        let position = feed
            .feed_start(FeedStart::Now)
            .await
            .map_err(CatalogError::Storage)?;
        Ok(Some(encode_position(&position, self.cursor_key())))
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> BoxStream<'static, T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}
