//! Reading collections: page after page through `@odata.nextLink`, each
//! page handed over as it arrives.

use super::client::{GraphClient, RequestOptions};
use super::error::{GraphError, PageError};
use super::wire::PageSeed;
use reqwest::Method;
use serde::de::DeserializeSeed;
use serde_json::Value;

/// Every item of a collection, and the delta link that ended it, if any.
#[derive(Debug, Clone, Default)]
pub struct Collection {
    pub items: Vec<Value>,
    /// `@odata.deltaLink` of the last page (delta queries only).
    pub delta_link: Option<String>,
}

/// How [`GraphClient::for_each_page`] reads a collection.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageOptions<'a> {
    /// Sent as `Prefer: odata.maxpagesize` (delta queries ignore `$top`).
    pub max_page_size: Option<u32>,
    /// When set, each item holds only these top-level fields: the rest is
    /// skipped as the page is parsed, never built.
    pub keep: Option<&'a [&'a str]>,
    /// Retries of a page answered 503 or 504 before the error is given
    /// back (`None`: as many as any request gets). A caller that can ask
    /// for less, such as a shorter range, sets it low: Graph tends to fail
    /// long ranges again and again (microsoft-graph-docs#3657).
    pub unavailable_retries: Option<u32>,
}

impl GraphClient {
    /// GET a collection, following `@odata.nextLink` until absent (across
    /// empty pages too); all `value` items concatenated.
    pub async fn get_all(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, GraphError> {
        Ok(self.get_collection(path, query, None).await?.items)
    }

    /// Like [`get_all`](Self::get_all), also returning the final
    /// `@odata.deltaLink`; `max_page_size` sends `Prefer: odata.maxpagesize`
    /// (delta queries). `path` may be a stored delta or next link (absolute,
    /// on the Graph origin).
    pub async fn get_collection(
        &self,
        path: &str,
        query: &[(&str, &str)],
        max_page_size: Option<u32>,
    ) -> Result<Collection, GraphError> {
        let mut items = Vec::new();
        let delta_link = self
            .for_each_page(
                path,
                query,
                PageOptions {
                    max_page_size,
                    ..PageOptions::default()
                },
                |page| {
                    items.extend(page);
                    Ok(())
                },
            )
            .await
            .map_err(|e| match e {
                PageError::Graph(e) => e,
                // The consumer above never fails.
                PageError::Consumer(e) => GraphError::local("internal", path, e.to_string()),
            })?;
        Ok(Collection { items, delta_link })
    }

    /// Reads a collection page by page, following `@odata.nextLink` until
    /// absent (across empty pages too), and hands each page's `value` items
    /// to `on_page` as it arrives, so that no more than one page is held as
    /// JSON at a time. Returns the final `@odata.deltaLink`, if any. An error
    /// of `on_page` stops the reading.
    ///
    /// With `keep`, each item holds only the named top-level fields: the
    /// rest is skipped as the page is parsed, never built (delta queries
    /// take no `$select`, and send whole events).
    pub async fn for_each_page<F>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        options: PageOptions<'_>,
        mut on_page: F,
    ) -> Result<Option<String>, PageError>
    where
        F: FnMut(Vec<Value>) -> anyhow::Result<()> + Send,
    {
        let PageOptions {
            max_page_size,
            keep,
            unavailable_retries,
        } = options;
        let first_label = format!("GET {}", self.short_path(path));
        let mut url = self.resolve(path, query, &first_label)?;
        let extra_prefer = max_page_size.map(|n| format!("odata.maxpagesize={n}"));
        let mut delta_link = None;
        let mut page = 1u32;
        loop {
            let label = if page == 1 {
                first_label.clone()
            } else {
                format!("{first_label} (page {page})")
            };
            let parse = |bytes: &[u8]| {
                let mut de = serde_json::Deserializer::from_slice(bytes);
                let page = PageSeed { keep }.deserialize(&mut de)?;
                de.end()?;
                Ok(page)
            };
            let request = self
                .request_to(Method::GET, url.clone(), label.as_str())
                .options(RequestOptions {
                    extra_prefer: extra_prefer.as_deref(),
                    unavailable_retries,
                });
            let answer = self.execute_parsed(request, None, &parse).await?;
            let Some(mut obj) = answer else {
                return Err(GraphError::local(
                    "malformed",
                    &label,
                    "the answer is not a JSON object",
                )
                .into());
            };
            let items = match obj.items.take() {
                Some(items) => items,
                None => {
                    return Err(GraphError::local(
                        "malformed",
                        &label,
                        "the answer has no `value` array",
                    )
                    .into());
                }
            };
            if let Some(Value::String(delta)) = obj.delta_link.take() {
                delta_link = Some(delta);
            }
            let next = match obj.next_link.take() {
                None | Some(Value::Null) => None,
                Some(Value::String(next)) => Some(next),
                Some(_) => {
                    return Err(GraphError::local(
                        "malformed",
                        &label,
                        "@odata.nextLink is not a string",
                    )
                    .into());
                }
            };
            self.progress(|p| p.page_read(items.len()));
            on_page(items).map_err(PageError::Consumer)?;
            let Some(next) = next else {
                return Ok(delta_link);
            };
            let next_url = self.check_link(&next, &label)?;
            if next_url == url {
                return Err(GraphError::local(
                    "malformed",
                    &label,
                    "the @odata.nextLink repeats the page just read",
                )
                .into());
            }
            url = next_url;
            page += 1;
        }
    }
}
