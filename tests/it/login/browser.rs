//! A browser, as far as logins need one: a cookie jar per host, redirects followed by hand (so
//! tests can look at each hop), and an alias that maps Hangar's public URL (what the provider
//! redirects to) onto the address the test server really listens on.

use reqwest::Method;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// One answer.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: String,
    pub status: u16,
    /// `Location`, made absolute.
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The `Set-Cookie` line for cookie `name`, if this answer set it.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.split('=').next() == Some(name))
            .map(String::as_str)
    }

    pub fn location(&self) -> &str {
        self.location.as_deref().unwrap_or_else(|| {
            panic!(
                "no Location from {} ({}): {}",
                self.url, self.status, self.body
            )
        })
    }
}

pub struct Browser {
    http: reqwest::Client,
    jar: Mutex<HashMap<String, BTreeMap<String, String>>>,
    /// (public origin, real origin)
    alias: Option<(String, String)>,
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or(""),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_default()
}

impl Browser {
    pub fn new(alias: Option<(String, String)>) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            jar: Mutex::new(HashMap::new()),
            alias,
        }
    }

    /// The cookie `name` this browser holds for `url`'s host.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.jar
            .lock()
            .expect("jar")
            .get(&host_of(url))
            .and_then(|c| c.get(name).cloned())
    }

    /// Puts a cookie in the jar (an attacker planting one, a test replaying one).
    pub fn put_cookie(&self, url: &str, name: &str, value: &str) {
        self.jar
            .lock()
            .expect("jar")
            .entry(host_of(url))
            .or_default()
            .insert(name.to_string(), value.to_string());
    }

    pub fn drop_cookie(&self, url: &str, name: &str) {
        if let Some(c) = self.jar.lock().expect("jar").get_mut(&host_of(url)) {
            c.remove(name);
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        self.send(Method::GET, url, &[], None).await
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send(
            Method::POST,
            url,
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(body),
        )
        .await
    }

    /// Any request, with extra headers; cookies of the host go along.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Page {
        let real = match &self.alias {
            Some((public, real)) if url.starts_with(public.as_str()) => {
                format!("{real}{}", &url[public.len()..])
            }
            _ => url.to_string(),
        };
        let mut req = self.http.request(method, &real);
        let cookies: Vec<String> = self
            .jar
            .lock()
            .expect("jar")
            .get(&host_of(url))
            .map(|c| c.iter().map(|(k, v)| format!("{k}={v}")).collect())
            .unwrap_or_default();
        if !cookies.is_empty() {
            req = req.header("cookie", cookies.join("; "));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(|l| {
                url::Url::parse(url)
                    .and_then(|base| base.join(l))
                    .map(|u| u.to_string())
                    .unwrap_or_else(|_| l.to_string())
            });
        let set_cookies: Vec<String> = headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        {
            let mut jar = self.jar.lock().expect("jar");
            let host = jar.entry(host_of(url)).or_default();
            for line in &set_cookies {
                let mut parts = line.split(';');
                let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('='))
                else {
                    continue;
                };
                let gone =
                    value.is_empty() || parts.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
                if gone {
                    host.remove(name);
                } else {
                    host.insert(name.to_string(), value.to_string());
                }
            }
        }
        let body = resp.text().await.unwrap_or_default();
        Page {
            url: url.to_string(),
            status,
            location,
            set_cookies,
            headers,
            body,
        }
    }
}
