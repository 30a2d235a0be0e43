//! A stand-in for the system browser in tests: it loads the sign-in page, fills
//! the form it finds with the given credentials, submits it, and follows the
//! redirect back to the app — what a person would do. A redirect to the app's
//! loopback listener is an HTTP request; one to the app's private-use scheme is
//! handed to the app as an opened link, as a phone's operating system does.

use carecycle_core::smart::{AppLinks, Browser};

#[derive(Debug, Clone)]
pub struct ScriptedBrowser {
    pub username: String,
    pub password: String,
    /// The phone's operating system: where links to the app's scheme go.
    pub phone: Option<AppLinks>,
}

impl ScriptedBrowser {
    pub fn new(username: &str, password: &str) -> ScriptedBrowser {
        ScriptedBrowser {
            username: username.into(),
            password: password.into(),
            phone: None,
        }
    }
}

/// The `name`/`value` pairs of the `<input>` elements of an HTML page.
pub fn form_inputs(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    };
    let attr = |tag: &str, name: &str| -> Option<String> {
        let needle = format!(" {name}=\"");
        let start = tag.find(&needle)? + needle.len();
        let end = tag[start..].find('"')? + start;
        Some(unescape(&tag[start..end]))
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default()))
        })
        .collect()
}

impl Browser for ScriptedBrowser {
    fn open(&self, url: &str) -> Result<(), String> {
        let url = url.to_owned();
        let me = self.clone();
        tokio::runtime::Handle::current().spawn(async move {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let page = http.get(&url).send().await.unwrap().text().await.unwrap();
            let mut fields: Vec<(String, String)> = form_inputs(&page)
                .into_iter()
                .filter(|(name, _)| name != "username" && name != "password")
                .collect();
            fields.push(("username".into(), me.username));
            fields.push(("password".into(), me.password));
            let origin = url::Url::parse(&url).unwrap();
            let action = origin.join("/auth/authorize").unwrap();
            let answer = http.post(action).form(&fields).send().await.unwrap();
            let location = answer
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned())
                .unwrap_or_else(|| panic!("sign-in was refused: {}", answer.status()));
            match (url::Url::parse(&location).unwrap().scheme(), &me.phone) {
                ("http" | "https", _) => {
                    http.get(location).send().await.unwrap();
                }
                (_, Some(phone)) => phone.deliver(&location),
                (scheme, None) => panic!("no app on this computer opens {scheme}: links"),
            }
        });
        Ok(())
    }
}
