// The Function App's storage account: host storage (AzureWebJobsStorage),
// the blob container Flex Consumption deploys packages from, and the
// container the worker exports audit trails to. Shared keys are off;
// everything goes through the apps' managed identities.

@description('Name of the storage account (3-24 lowercase letters and digits).')
param name string

@description('Azure region of the account.')
param location string

@description('Tags for the account.')
param tags object

@description('Name of the blob container that holds the deployment packages.')
param deploymentContainerName string

@description('Object id of the Function App identity, given Storage Blob Data Owner and Storage Table Data Contributor.')
param functionPrincipalId string

@description('Name of the blob container the worker writes audit trails to (APPROVALS_AUDIT_CONTAINER_URL).')
param auditContainerName string

@description('Object id of the worker identity, given Storage Blob Data Contributor on the audit container.')
param workerPrincipalId string

@description('Days each audit blob is kept immutable (a time-based retention policy on the container); 0 sets no policy.')
@minValue(0)
@maxValue(146000)
param auditRetentionDays int = 0

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// One blob per ended approval, created and never overwritten by the
// worker's export (audit/blobexport). With a retention policy no one, the
// account's owners included, can change or delete a blob before it has
// been kept that many days; the policy is left unlocked, so that it can be
// shortened or removed while trying it out: lock it (az storage container
// immutability-policy lock) once the period is right, after which it can
// only be extended.
resource auditContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: auditContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource auditRetention 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = if (auditRetentionDays > 0) {
  parent: auditContainer
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: auditRetentionDays
    allowProtectedAppendWrites: false
  }
}

// The worker writes audit blobs, on this container only: Storage Blob Data
// Contributor (read, write, delete; a retention policy refuses the delete).
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource auditWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(auditContainer.id, workerPrincipalId, storageBlobDataContributor)
  scope: auditContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Two roles for the Function App's identity, on this account only:
// - Storage Blob Data Owner: the Functions host keeps the function keys
//   (authLevel "function") and its locks in blob containers of
//   AzureWebJobsStorage, and Flex Consumption reads the deployment package
//   from the container above.
// - Storage Table Data Contributor: the host writes its diagnostic events to
//   a table of AzureWebJobsStorage. With shared keys off, the identity is the
//   only way in.
// Queue roles are deliberately not granted: queues serve only queue and blob
// triggers and Durable Functions' own storage provider. This app has HTTP
// triggers only, and its orchestration state lives in the Durable Task
// Scheduler.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource tableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = storage.name
output deploymentContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deploymentContainer.name}'
output auditContainerUrl string = '${storage.properties.primaryEndpoints.blob}${auditContainer.name}'
