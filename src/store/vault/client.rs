//! PLACEHOLDER until the client lands (helper branch r-vclient).
use crate::error::{Error, Result};

pub struct Versioned {
    pub data: serde_json::Map<String, serde_json::Value>,
    pub version: u64,
}

pub enum Put {
    Written { version: u64 },
    CasMismatch,
}

pub struct Client;

impl Client {
    pub fn from_env() -> Result<Client> {
        Err(Error::failed("no Vault client yet", "wait"))
    }
    pub fn kv_get(&self, _mount: &str, _path: &str) -> Result<Option<Versioned>> {
        unimplemented!()
    }
    pub fn kv_put(
        &self,
        _mount: &str,
        _path: &str,
        _data: &serde_json::Value,
        _cas: Option<u64>,
    ) -> Result<Put> {
        unimplemented!()
    }
    pub fn kv_list(&self, _mount: &str, _path: &str) -> Result<Vec<String>> {
        unimplemented!()
    }
    pub fn kv_destroy(&self, _mount: &str, _path: &str) -> Result<()> {
        unimplemented!()
    }
    pub fn requests(&self) -> u64 {
        0
    }
}
