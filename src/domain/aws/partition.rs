//! AWS partitions and Regions, and the endpoints each implies.

use std::fmt;

use super::*;

/// An AWS partition: each has its own sign-in endpoint, SAML audience and console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    Aws,
    AwsUsGov,
    AwsCn,
}

impl Partition {
    /// Parses `aws`, `aws-us-gov` or `aws-cn`.
    pub fn parse(raw: &str) -> Result<Partition, AwsRuleError> {
        match raw {
            "aws" => Ok(Partition::Aws),
            "aws-us-gov" => Ok(Partition::AwsUsGov),
            "aws-cn" => Ok(Partition::AwsCn),
            other => Err(AwsRuleError::new(
                "partition",
                other,
                "is not an AWS partition",
                "use aws, aws-us-gov or aws-cn",
            )),
        }
    }

    /// The name used in ARNs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsUsGov => "aws-us-gov",
            Partition::AwsCn => "aws-cn",
        }
    }

    /// The Regions of this partition that this release knows. A Region AWS opens later needs a
    /// newer release: sign-in and STS endpoints are only trusted for Regions known here.
    pub fn regions(&self) -> &'static [&'static str] {
        match self {
            Partition::Aws => &[
                "us-east-1",
                "us-east-2",
                "us-west-1",
                "us-west-2",
                "af-south-1",
                "ap-east-1",
                "ap-east-2",
                "ap-south-1",
                "ap-south-2",
                "ap-southeast-1",
                "ap-southeast-2",
                "ap-southeast-3",
                "ap-southeast-4",
                "ap-southeast-5",
                "ap-southeast-6",
                "ap-southeast-7",
                "ap-northeast-1",
                "ap-northeast-2",
                "ap-northeast-3",
                "ca-central-1",
                "ca-west-1",
                "eu-central-1",
                "eu-central-2",
                "eu-west-1",
                "eu-west-2",
                "eu-west-3",
                "eu-south-1",
                "eu-south-2",
                "eu-north-1",
                "il-central-1",
                "me-south-1",
                "me-central-1",
                "mx-central-1",
                "sa-east-1",
            ],
            Partition::AwsUsGov => &["us-gov-west-1", "us-gov-east-1"],
            Partition::AwsCn => &["cn-north-1", "cn-northwest-1"],
        }
    }

    /// Checks that `region` belongs to this partition; the error says which partition it is
    /// in, or the closest name this partition has.
    pub fn check_region(&self, region: &Region) -> Result<(), String> {
        let name = region.as_str();
        if self.regions().contains(&name) {
            return Ok(());
        }
        if let Some(other) = [Partition::Aws, Partition::AwsUsGov, Partition::AwsCn]
            .into_iter()
            .find(|p| p.regions().contains(&name))
        {
            return Err(format!(
                "`{name}` is a Region of partition `{}`, not of `{}` (saml.partition); list Regions of one partition only",
                other.as_str(),
                self.as_str()
            ));
        }
        let closest = self
            .regions()
            .iter()
            .min_by_key(|known| edit_distance(name, known))
            .copied()
            .unwrap_or("us-east-1");
        Err(format!(
            "`{name}` is not a Region of partition `{}`; did you mean `{closest}`?",
            self.as_str()
        ))
    }

    /// The `Audience` AWS sign-in requires in this partition.
    pub fn audience(&self) -> &'static str {
        match self {
            Partition::Aws => "urn:amazon:webservices",
            Partition::AwsUsGov => "urn:amazon:webservices:govcloud",
            Partition::AwsCn => "urn:amazon:webservices:cn-north-1",
        }
    }

    /// The SAML sign-in (ACS) URL for a Region of this partition.
    pub fn acs_url(&self, region: &Region) -> String {
        match self {
            Partition::Aws => format!("https://{}.signin.aws.amazon.com/saml", region.as_str()),
            Partition::AwsUsGov | Partition::AwsCn => self
                .single_sign_in_endpoint()
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// The one SAML sign-in endpoint of a partition that has no regional ones (GovCloud,
    /// China): there, sign-in failover between Regions cannot help.
    pub fn single_sign_in_endpoint(&self) -> Option<&'static str> {
        match self {
            Partition::Aws => None,
            Partition::AwsUsGov => Some("https://signin.amazonaws-us-gov.com/saml"),
            Partition::AwsCn => Some("https://signin.amazonaws.cn/saml"),
        }
    }

    /// The regional STS endpoint.
    pub fn sts_url(&self, region: &Region) -> String {
        match self {
            Partition::AwsCn => format!("https://sts.{}.amazonaws.com.cn", region.as_str()),
            _ => format!("https://sts.{}.amazonaws.com", region.as_str()),
        }
    }

    /// The console federation endpoint (getSigninToken, login) of a Region.
    pub fn federation_url(&self, region: &Region) -> String {
        match self {
            Partition::Aws => format!(
                "https://{}.signin.aws.amazon.com/federation",
                region.as_str()
            ),
            Partition::AwsUsGov => "https://signin.amazonaws-us-gov.com/federation".to_string(),
            Partition::AwsCn => "https://signin.amazonaws.cn/federation".to_string(),
        }
    }

    /// The console home of a Region: the RelayState that lands people in the Region they signed in through.
    pub fn console_url(&self, region: &Region) -> String {
        let r = region.as_str();
        match self {
            Partition::Aws => format!("https://{r}.console.aws.amazon.com/console/home?region={r}"),
            Partition::AwsUsGov => {
                format!("https://console.amazonaws-us-gov.com/console/home?region={r}")
            }
            Partition::AwsCn => format!("https://console.amazonaws.cn/console/home?region={r}"),
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Levenshtein distance, for "did you mean" on a mistyped Region.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// An AWS Region name such as `us-east-2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    /// Parses a Region name.
    pub fn parse(raw: &str) -> Result<Region, AwsRuleError> {
        if REGION.is_match(raw) {
            Ok(Region(raw.to_string()))
        } else {
            Err(AwsRuleError::new(
                "region",
                raw,
                "is not a Region name",
                "use a name such as us-east-2 or eu-west-1",
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Partition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Partition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Partition::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A configured Region, optionally with its own endpoint URL: `REGION` or `REGION=URL` (a
/// test double, a VPC endpoint). Parsed once when the settings are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionEntry {
    pub region: Region,
    pub url: Option<String>,
}

impl std::str::FromStr for RegionEntry {
    type Err = String;

    fn from_str(entry: &str) -> Result<RegionEntry, String> {
        let (region, url) = match entry.split_once('=') {
            Some((r, u)) => (r, Some(u)),
            None => (entry, None),
        };
        let region = Region::parse(region).map_err(|e| e.to_string())?;
        if let Some(url) = url {
            // Assertions and credentials travel to this URL: https, or plain http only to this
            // machine (a test double or a local proxy nobody else can reach).
            let parsed = url::Url::parse(url).ok();
            let loopback = parsed.as_ref().is_some_and(|u| {
                u.scheme() == "http"
                    && match u.host() {
                        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                        None => false,
                    }
            });
            let https = parsed
                .as_ref()
                .is_some_and(|u| u.scheme() == "https" && u.host().is_some());
            if !(https || loopback) {
                return Err(format!(
                    "`{entry}`: the URL after `=` must be https:// (plain http:// only to 127.0.0.1 or localhost)"
                ));
            }
        }
        Ok(RegionEntry {
            region,
            url: url.map(str::to_string),
        })
    }
}

impl fmt::Display for RegionEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.url {
            Some(url) => write!(f, "{}={url}", self.region),
            None => write!(f, "{}", self.region),
        }
    }
}

impl serde::Serialize for RegionEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RegionEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
