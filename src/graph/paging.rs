//! Reading collections: page after page through `@odata.nextLink`, each
//! page handed over as it arrives.
//!
//! What Graph does here: docs/graph.md, Paging.

use super::client::{GraphClient, RequestOptions};
use super::error::{GraphError, PageError};
use super::wire::{Field, Page, odd_page};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

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
        on_page: F,
    ) -> Result<Option<String>, PageError>
    where
        F: FnMut(Vec<Value>) -> anyhow::Result<()> + Send,
    {
        let keep = options.keep;
        let parse = |bytes: &[u8]| match keep {
            None => parse_page::<Value>(bytes),
            Some(keep) => Ok(match parse_page::<&RawValue>(bytes)? {
                Parsed::Page(page) => Parsed::Page(Page {
                    value: page
                        .value
                        .map(|items| items.into_iter().map(|raw| kept(raw, keep)).collect())
                        .transpose()?,
                    next_link: page.next_link,
                    delta_link: page.delta_link,
                }),
                Parsed::Odd(why) => Parsed::Odd(why),
            }),
        };
        self.read_pages(path, query, options, &parse, on_page).await
    }

    /// Like [`for_each_page`](Self::for_each_page), each item read as a `T`:
    /// what `T` does not name is skipped as the page is parsed (`keep` is
    /// not used).
    pub(crate) async fn for_each_page_of<T, F>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        options: PageOptions<'_>,
        on_page: F,
    ) -> Result<Option<String>, PageError>
    where
        T: DeserializeOwned + Send,
        F: FnMut(Vec<T>) -> anyhow::Result<()> + Send,
    {
        self.read_pages(
            path,
            query,
            options,
            &|bytes: &[u8]| parse_page::<T>(bytes),
            on_page,
        )
        .await
    }

    /// The paging both of the above share, each page parsed by `parse`.
    async fn read_pages<T, F>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        options: PageOptions<'_>,
        parse: &(dyn Fn(&[u8]) -> serde_json::Result<Parsed<T>> + Send + Sync),
        mut on_page: F,
    ) -> Result<Option<String>, PageError>
    where
        T: Send,
        F: FnMut(Vec<T>) -> anyhow::Result<()> + Send,
    {
        let PageOptions {
            max_page_size,
            keep: _,
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
            let request = self
                .request_to(Method::GET, url.clone(), label.as_str())
                .options(RequestOptions {
                    extra_prefer: extra_prefer.as_deref(),
                    unavailable_retries,
                });
            let answer = match self.execute_parsed(request, None, parse).await? {
                Parsed::Page(answer) => answer,
                Parsed::Odd(why) => return Err(GraphError::local("malformed", &label, why).into()),
            };
            let Some(items) = answer.value else {
                return Err(GraphError::local(
                    "malformed",
                    &label,
                    "the answer has no `value` array",
                )
                .into());
            };
            if let Field::Is(delta) = answer.delta_link {
                delta_link = Some(delta);
            }
            let next = answer.next_link;
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

/// A page as parsed: read, or not of the shape of a page, and why.
enum Parsed<T> {
    Page(Page<T>),
    Odd(String),
}

/// Parses a collection page. An answer that is JSON but not a page is
/// [`Parsed::Odd`], given back at once: asking again would not change it. A
/// body that is not JSON is an error, as a body cut off is, and is asked for
/// again.
fn parse_page<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> serde_json::Result<Parsed<T>> {
    match serde_json::from_slice::<Page<T>>(bytes) {
        Ok(page) => Ok(Parsed::Page(page)),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            // Rare: read once more, whole, to say what is wrong.
            let answer: Value = serde_json::from_slice(bytes)?;
            Ok(Parsed::Odd(match odd_page(&answer) {
                Some(why) => why.to_owned(),
                None => format!("an item of the page is not of the shape calsync reads ({e})"),
            }))
        }
        Err(e) => Err(e),
    }
}

/// An item keeping only its `keep` fields when it is an object; anything
/// else taken whole.
fn kept(raw: &RawValue, keep: &[&str]) -> serde_json::Result<Value> {
    let Ok(fields) = serde_json::from_str::<BTreeMap<String, &RawValue>>(raw.get()) else {
        return serde_json::from_str(raw.get());
    };
    let mut out = serde_json::Map::new();
    for (name, value) in fields {
        if keep.contains(&name.as_str()) {
            out.insert(name, serde_json::from_str(value.get())?);
        }
    }
    Ok(Value::Object(out))
}
